// `npm run bench`: statekeeper side by side with the baselines a user would otherwise pick and
// with the physical floor, every scenario in one run. BENCH_QUICK=1 for a small smoke run;
// BENCH_ONLY=server-load,s3-commit runs only the scenarios named.
// Method and figures: docs/benchmarks.md. Benchmarks measure; nothing here asserts a timing.
import { performance } from "node:perf_hooks";
import { log, QUICK, type ScenarioResult } from "./lib/measure.js";
import { machine, renderTable, writeResults } from "./lib/report.js";
import { type S3Server, startS3Server, stopS3Server } from "./lib/server.js";
import { alchemyScenario } from "./scenarios/alchemy.js";
import { deploymentsScenario } from "./scenarios/deployments.js";
import { format2Scenario } from "./scenarios/format2.js";
import { format2LargeScenario } from "./scenarios/format2-large.js";
import { growthScenario } from "./scenarios/growth.js";
import { largeStateScenario } from "./scenarios/large-state.js";
import { localCommitScenario } from "./scenarios/local-commit.js";
import { lockHandoffScenario } from "./scenarios/lock-handoff.js";
import { readCurrentScenario } from "./scenarios/read-current.js";
import { rgwReadsScenario } from "./scenarios/rgw-reads.js";
import { s3CommitScenario } from "./scenarios/s3-commit.js";
import { serverLoadScenario } from "./scenarios/server-load.js";
import { webViewScenario } from "./scenarios/web-view.js";

// The SDK warns once that future releases need Node 22; that is not a benchmark finding.
process.removeAllListeners("warning");
process.on("warning", (w) => {
  if (w.name !== "NodeVersionSupportWarning") process.stderr.write(`${w.name}: ${w.message}\n`);
});

/** Every scenario, in run order, by the name BENCH_ONLY selects it with. */
const scenarios: Array<[string, (server: S3Server) => Promise<ScenarioResult>]> = [
  ["local-commit", () => localCommitScenario()],
  ["s3-commit", s3CommitScenario],
  ["growth", () => growthScenario()],
  ["format2", format2Scenario],
  ["format2-large", () => format2LargeScenario()],
  ["large-state", () => largeStateScenario()],
  ["read-current", () => readCurrentScenario()],
  ["alchemy", alchemyScenario],
  ["lock-handoff", lockHandoffScenario],
  ["rgw-reads", rgwReadsScenario],
  ["deployments", deploymentsScenario],
  ["server-load", serverLoadScenario],
  ["web-view", webViewScenario],
];

/** BENCH_ONLY: a comma-separated list of scenario names; unset or empty runs them all. */
function selected(): typeof scenarios {
  const only = (process.env.BENCH_ONLY ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  if (only.length === 0) return scenarios;
  const unknown = only.filter((name) => !scenarios.some(([n]) => n === name));
  if (unknown.length > 0)
    throw new Error(
      `BENCH_ONLY names no scenario ${unknown.join(", ")} (known: ${scenarios.map(([n]) => n).join(", ")})`,
    );
  return scenarios.filter(([n]) => only.includes(n));
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const start = performance.now();
  const chosen = selected();
  log(
    `${QUICK ? "quick" : "full"} run of ${chosen.length === scenarios.length ? "every scenario" : chosen.map(([n]) => n).join(", ")} on ${JSON.stringify(machine())}`,
  );
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
    for (const [, scenario] of chosen) {
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
  for (const r of results) for (const note of r.notes ?? []) process.stdout.write(`${r.id}: ${note}\n`);
  process.stdout.write(`ratio = statekeeper cost / baseline cost (> 1: statekeeper slower or bigger)\n`);
  process.stdout.write(
    `results: ${file} (and bench/results/latest.json); ${(durationMs / 1000).toFixed(0)} s\n`,
  );
}

main().catch((e: unknown) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
