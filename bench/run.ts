// `npm run bench`: statekeeper side by side with the baselines a user would otherwise pick and
// with the physical floor, every scenario in one run. BENCH_QUICK=1 for a small smoke run.
// Method and figures: docs/benchmarks.md. Benchmarks measure; nothing here asserts a timing.
import { performance } from "node:perf_hooks";
import { log, QUICK, type ScenarioResult } from "./lib/measure.js";
import { machine, renderTable, writeResults } from "./lib/report.js";
import { type S3Server, startS3Server, stopS3Server } from "./lib/server.js";
import { alchemyScenario } from "./scenarios/alchemy.js";
import { deploymentsScenario } from "./scenarios/deployments.js";
import { growthScenario } from "./scenarios/growth.js";
import { largeStateScenario } from "./scenarios/large-state.js";
import { localCommitScenario } from "./scenarios/local-commit.js";
import { lockHandoffScenario } from "./scenarios/lock-handoff.js";
import { rgwReadsScenario } from "./scenarios/rgw-reads.js";
import { s3CommitScenario } from "./scenarios/s3-commit.js";

// The SDK warns once that future releases need Node 22; that is not a benchmark finding.
process.removeAllListeners("warning");
process.on("warning", (w) => {
  if (w.name !== "NodeVersionSupportWarning") process.stderr.write(`${w.name}: ${w.message}\n`);
});

const scenarios: Array<(server: S3Server) => Promise<ScenarioResult>> = [
  () => localCommitScenario(),
  s3CommitScenario,
  () => growthScenario(),
  () => largeStateScenario(),
  alchemyScenario,
  lockHandoffScenario,
  rgwReadsScenario,
  deploymentsScenario,
];

async function main(): Promise<void> {
  const startedAt = new Date();
  const start = performance.now();
  log(`${QUICK ? "quick" : "full"} run on ${JSON.stringify(machine())}`);
  const server = await startS3Server();
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= stopS3Server(server.dir);
    return stopping;
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    process.once(signal, () => {
      void stop().finally(() => process.exit(130));
    });
  const results: ScenarioResult[] = [];
  try {
    for (const scenario of scenarios) {
      const t = performance.now();
      const result = await scenario(server);
      results.push(result);
      log(`${result.id} done in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    }
  } finally {
    await stop();
  }
  const durationMs = performance.now() - start;
  const file = await writeResults(results, startedAt, durationMs);
  for (const r of results) process.stdout.write(`${r.id}: ${r.title}\n`);
  process.stdout.write(`\n${renderTable(results)}\n\n`);
  process.stdout.write(`ratio = statekeeper cost / baseline cost (> 1: statekeeper slower or bigger)\n`);
  process.stdout.write(
    `results: ${file} (and bench/results/latest.json); ${(durationMs / 1000).toFixed(0)} s\n`,
  );
}

main().catch((e: unknown) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
