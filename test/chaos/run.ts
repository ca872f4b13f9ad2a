// One chaos configuration end to end: workers under the supervisor, then (once nothing can reach
// the store any more) the history checker on what the store holds, `verify` through the CLI, and
// the figures. Used by test/chaos/chaos-*.test.ts; `npm run chaos` runs the same tests longer.
import { appendFileSync, rmSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { generateKey } from "../../src/crypto/index.js";
import type { ObjectStore } from "../../src/objectstore/index.js";
import {
  CHAOS_FACTORY,
  CHAOS_KEY_ENV,
  type ChaosTarget,
  openChaosBackend,
  openChaosStore,
} from "../fixtures/chaos/stack.js";
import type { FaultCounts, FaultProxy } from "../support/fault-proxy.js";
import { checkHistory, type HistoryReport } from "./history.js";
import { describeDifference, readStoredHistory, runVerify, type VerifyOutcome } from "./stored-history.js";
import {
  type ChaosSchedule,
  type SupervisorResult,
  superviseChaos,
  type WorkerSettings,
} from "./supervisor.js";

export interface ChaosRun {
  /** Names the configuration in the figures: "file", "s3", "s3+faults". */
  name: string;
  /** Where the workers write: the store, or the store through `proxy`. */
  workerTarget: ChaosTarget;
  /** Where the checker reads: always the store itself. */
  checkTarget: ChaosTarget;
  /** The same store as a `--store` URL, for `statekeeper verify`. */
  storeUrl: string;
  schedule: ChaosSchedule;
  settings: Omit<WorkerSettings, "target">;
  proxy?: FaultProxy;
  /**
   * The chaos goes on past its duration (up to the schedule's maximum) until this many commits
   * were acknowledged, something was killed and paused, and the proxy dropped requests and
   * responses: a run that showed none of it proves nothing.
   */
  minAcknowledged: number;
}

export interface ChaosReport {
  name: string;
  schedule: ChaosSchedule;
  supervisor: SupervisorResult;
  history: HistoryReport;
  verify: VerifyOutcome;
  proxy: FaultCounts | undefined;
  /** Where the checked stack is (kept when the run failed). */
  store: ChaosTarget;
  /** Wall time of the whole configuration: start, chaos, check and verify. */
  totalMs: number;
  /** Of which reading the store and checking the history, and running `verify`. */
  checkMs: number;
  verifyMs: number;
}

const number = (name: string, fallback: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got ${raw}`);
  return n;
};

/** A `min-max` range in ms from the environment, e.g. CHAOS_GAP_MS=500-2000. */
const range = (name: string, fallback: { min: number; max: number }) => {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const m = /^(\d+)-(\d+)$/.exec(raw);
  if (m === null || Number(m[1]) <= 0 || Number(m[1]) > Number(m[2]))
    throw new Error(`${name} must look like 500-2000 (ms, 0 < min <= max), got ${raw}`);
  return { min: Number(m[1]), max: Number(m[2]) };
};

/**
 * The schedule of one configuration: short by default (the run inside `npm test`), or as set by
 * CHAOS_SECONDS, CHAOS_WORKERS, CHAOS_GAP_MS, CHAOS_PAUSE_MS, CHAOS_KILL_CHANCE and CHAOS_SCHEDULE.
 */
export function chaosSchedule(defaultSeconds: number): ChaosSchedule {
  return {
    durationMs: number("CHAOS_SECONDS", defaultSeconds) * 1000,
    // A short run on a loaded machine (npm test runs files side by side) may need longer to
    // show enough chaos; it stops as soon as it has. At least two minutes: through the fault
    // proxy at load 20, 50 s gave 8 acknowledged commits of the 15 asked for.
    maxDurationMs: Math.max(6 * number("CHAOS_SECONDS", defaultSeconds), 120) * 1000,
    workers: number("CHAOS_WORKERS", 4),
    gapMs: range("CHAOS_GAP_MS", { min: 500, max: 2000 }),
    killChance: number("CHAOS_KILL_CHANCE", 0.5),
    // From far below a lease to four of them: some pauses lapse the lease, most do not.
    pauseMs: range("CHAOS_PAUSE_MS", { min: 10, max: 4000 }),
    midCommitChance: number("CHAOS_MID_COMMIT_CHANCE", 0.4),
    midCommitDelayMs: 40,
    holderChance: number("CHAOS_HOLDER_CHANCE", 0.5),
    number: number("CHAOS_SCHEDULE", Math.floor(Math.random() * 2 ** 31)),
  };
}

/**
 * CHAOS_TRACE=<file>: every worker line and supervisor action, with a timestamp, appended to the
 * file, for reconstructing what led to a failure.
 */
function traceTo(file: string | undefined, name: string): ((line: string) => void) | undefined {
  if (file === undefined || file === "") return undefined;
  return (line) => appendFileSync(file, `${new Date().toISOString()} ${name} ${line}\n`);
}

/** How workers use the lock: a short lease so that pauses outlast it and takeovers happen. */
export const CHAOS_WORKER_SETTINGS: Omit<WorkerSettings, "target"> = {
  leaseMs: 1000,
  pollMs: 20,
  lockTimeoutMs: 15_000,
  maxCommitsPerLock: 3,
  maxWorkMs: 30,
};

/** Removes what a passing run left in the store: the S3 test server keeps objects in memory. */
async function removeStack(target: ChaosTarget, store: ObjectStore): Promise<void> {
  if (target.kind === "file") {
    rmSync(target.root, { recursive: true, force: true });
    return;
  }
  const keys: string[] = [];
  for await (const o of store.list(`${CHAOS_FACTORY}/`)) keys.push(o.key);
  for (const key of keys) await store.delete(key);
}

export function passed(r: ChaosReport): boolean {
  return (
    r.history.lost.length === 0 &&
    r.history.duplicated.length === 0 &&
    r.history.violations.length === 0 &&
    r.supervisor.violations.length === 0 &&
    r.verify.code === 0
  );
}

export async function runChaos(run: ChaosRun): Promise<ChaosReport> {
  const began = performance.now();
  const key = generateKey();
  const store = await openChaosStore(run.checkTarget);
  const backend = openChaosBackend(store, { [CHAOS_KEY_ENV]: key });
  const trace = traceTo(process.env.CHAOS_TRACE, run.name);
  const supervisor = await superviseChaos(
    run.schedule,
    { ...run.settings, target: run.workerTarget },
    { [CHAOS_KEY_ENV]: key },
    {
      lockHolder: async () => (await backend.lockInfo())?.pid,
      enough: (sofar) => {
        const faults = run.proxy?.counts();
        return (
          sofar.acks.length >= run.minAcknowledged &&
          sofar.kills > 0 &&
          sofar.pauses > 0 &&
          (faults === undefined || (faults.droppedRequests > 0 && faults.droppedResponses > 0))
        );
      },
      ...(trace === undefined ? {} : { trace }),
    },
  );
  // Every worker is dead, but a request the proxy still holds could land after the history was
  // read; and the server may still be applying one whose client just died.
  await run.proxy?.idle();
  await sleep(300);
  const checking = performance.now();
  const history = checkHistory(supervisor, await readStoredHistory(backend));
  for (const v of history.violations.filter((x) => x.rev !== undefined).slice(0, 3))
    v.detail += `; ${await describeDifference(backend, v.rev as string, v.parent).catch(String)}`;
  const verifying = performance.now();
  const verify = await runVerify(run.storeUrl, key);
  const report: ChaosReport = {
    name: run.name,
    schedule: run.schedule,
    supervisor,
    history,
    verify,
    proxy: run.proxy?.counts(),
    store: run.checkTarget,
    totalMs: performance.now() - began,
    checkMs: verifying - checking,
    verifyMs: performance.now() - verifying,
  };
  console.log(formatFigures(report));
  if (passed(report)) await removeStack(run.checkTarget, store);
  else console.log(formatEvidence(report));
  return report;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** The figures of one configuration: a header line and one line per topic. */
export function formatFigures(r: ChaosReport): string {
  const s = r.supervisor;
  const h = r.history;
  const refused = (code: string) => s.refused.filter((x) => x.code === code).length;
  const lines = [
    `chaos[${r.name}] ${seconds(s.elapsedMs)} of chaos, ${seconds(r.totalMs)} in all (start ${seconds(s.startupMs)}, check ${seconds(r.checkMs)}, verify ${seconds(r.verifyMs)}), schedule ${r.schedule.number}, ${r.schedule.workers} workers at a time, ${s.started} started`,
    `  commits  acknowledged ${h.acknowledged}, outcome unknown ${s.unknown}; the line holds ${h.line.length} (${h.unacknowledgedOnLine} never acknowledged), orphans ${h.orphans.length}`,
    `  chaos    kills ${s.kills}, pauses ${s.pauses} (${seconds(s.pausedMs)} stopped); ${s.holderHits} hit the lock holder, ${s.midCommitHits} of them mid-commit`,
    `  lock     taken ${s.locks} times, ${s.takeovers.length} over a lapsed lease; fenced ${refused("E_FENCED")}, lock lost ${refused("E_LOCK_LOST")} in commit + ${s.events["lease-lost"]} between commits, timeouts ${s.events.locked}, unlock found it gone ${s.unlockedNotOurs}, current moved during a read ${s.events["moved-while-read"]}, transient errors ${s.events.transient}`,
  ];
  if (r.proxy !== undefined)
    lines.push(
      `  proxy    ${r.proxy.requests} requests: ${r.proxy.droppedRequests} dropped, ${r.proxy.droppedResponses} responses lost after the server applied them, ${r.proxy.delayed} delayed`,
    );
  lines.push(
    `  result   LOST ${h.lost.length}, DUPLICATED ${h.duplicated.length}, VIOLATIONS ${h.violations.length + s.violations.length} (${h.violations.length} in the history, ${s.violations.length} seen by workers), verify exit ${r.verify.code}`,
  );
  return lines.join("\n");
}

/** What failed, with enough detail to start from (and where the store was kept). */
export function formatEvidence(r: ChaosReport): string {
  const kept =
    r.store.kind === "file"
      ? `the store was kept in ${r.store.root}`
      : `the stack was kept under ${r.store.prefix} (until the test server stops)`;
  const lines = [
    `chaos[${r.name}] FAILED (schedule ${r.schedule.number}); ${kept}; CHAOS_TRACE=<file> records the timeline`,
  ];
  const cap = <T>(xs: readonly T[]) => xs.slice(0, 10);
  for (const a of cap(r.history.lost)) lines.push(`  lost: ${a}`);
  for (const a of cap(r.history.duplicated)) lines.push(`  duplicated: ${a}`);
  for (const v of cap(r.history.violations)) lines.push(`  ${v.kind}: ${v.detail}`);
  for (const v of cap(r.supervisor.violations))
    lines.push(
      `  worker w${v.worker} ${v.code} during ${v.during}: ${v.message.split("\n").slice(0, 4).join(" | ")}`,
    );
  if (r.verify.code !== 0)
    lines.push(
      `  verify exit ${r.verify.code}: ${r.verify.stdout.slice(0, 2000)} ${r.verify.stderr.slice(0, 2000)}`,
    );
  return lines.join("\n");
}
