// The chaos supervisor: keeps N worker processes (test/fixtures/chaos/worker.ts) committing to one
// stack, and at random moments kill -9s one (and starts a fresh one with a new id) or SIGSTOPs one
// for a random pause, from a few milliseconds to several lease lengths, so leases lapse and locks
// are taken over while their holders sleep. It records what every worker reported.
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { kill9, startWorker, type Worker } from "../fixtures/backend/spawn.js";
import type { WorkerConfig, WorkerEventKind, WorkerMessage } from "../fixtures/chaos/stack.js";
import type { AckedCommit, Intrusion, RefusedCommit } from "./history.js";

export interface ChaosSchedule {
  /** The chaos lasts at least this long… */
  durationMs: number;
  /**
   * …and on, up to this long, until `enough` says the run has shown something (on a loaded
   * machine a short run may otherwise acknowledge almost nothing).
   */
  maxDurationMs: number;
  workers: number;
  /** Time between two chaos actions, uniformly random in [min, max]. */
  gapMs: { min: number; max: number };
  /** Chance that an action is a kill -9 rather than a pause. */
  killChance: number;
  /** Length of a SIGSTOP, log-uniform in [min, max], so tiny and multi-lease pauses both occur. */
  pauseMs: { min: number; max: number };
  /**
   * Chance that an action hits the worker holding the lock (when one does) rather than any
   * worker: a paused waiter proves little, a holder paused mid-commit past its lease is the case
   * the fence exists for.
   */
  holderChance: number;
  /**
   * Chance that an action instead waits for a worker to announce a commit, then strikes it a
   * random 0–`midCommitDelayMs` later: between writing the snapshot and moving current, or while
   * either write is in flight. Tried before `holderChance`.
   */
  midCommitChance: number;
  midCommitDelayMs: number;
  /** Determines the schedule (which worker, which action, when); the outcome still depends on timing. */
  number: number;
}

/** Everything but the worker id, which the supervisor assigns. */
export type WorkerSettings = Omit<WorkerConfig, "worker">;

export interface WorkerReport {
  worker: number;
  during: string;
  code: string;
  message: string;
}

export interface SupervisorResult {
  acks: AckedCommit[];
  refused: RefusedCommit[];
  intrusions: Intrusion[];
  /** Locks taken over from a holder whose lease lapsed: `lock` from `from` (shortened ids). */
  takeovers: { worker: number; lock: string; from: string }[];
  /** Commits whose outcome the worker could not know (a transient error in `commit()`). */
  unknown: number;
  /** Locks taken (takeovers included). */
  locks: number;
  /** `unlock()` found the lock was no longer ours: its holder had lost it (paused, slow, taken over). */
  unlockedNotOurs: number;
  events: Record<WorkerEventKind, number>;
  /** Violations the workers reported, and workers that ended on their own. */
  violations: WorkerReport[];
  started: number;
  kills: number;
  pauses: number;
  /** Actions that hit the worker holding the lock at that moment, and of those, mid-commit. */
  holderHits: number;
  midCommitHits: number;
  /** Total time workers spent stopped. */
  pausedMs: number;
  /** Wall time of the chaos itself, from all first workers ready to all workers gone. */
  elapsedMs: number;
  /** Wall time until the first workers were all ready (process start, store open). */
  startupMs: number;
}

/** mulberry32: a small generator started from a number, so a schedule can be replayed from it. */
export function randomFromNumber(start: number): () => number {
  let a = start >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Running {
  id: number;
  worker: Worker;
  ready: boolean;
  paused: { since: number; resume: NodeJS.Timeout } | undefined;
  killed: boolean;
}

export interface SupervisorHooks {
  /** Which pid holds the lock now (read from the store, outside the workers). */
  lockHolder: () => Promise<number | undefined>;
  /** Whether the run has shown enough to stop once `durationMs` has passed. */
  enough: (sofar: SupervisorResult) => boolean;
  /** Receives every worker line and supervisor action. */
  trace?: (line: string) => void;
}

/**
 * Runs the chaos for `schedule.durationMs` (longer, up to `maxDurationMs`, until `enough`), then
 * SIGCONTs and kills every worker.
 */
export async function superviseChaos(
  schedule: ChaosSchedule,
  settings: WorkerSettings,
  env: NodeJS.ProcessEnv,
  hooks: SupervisorHooks,
): Promise<SupervisorResult> {
  const { lockHolder, enough, trace = () => {} } = hooks;
  const random = randomFromNumber(schedule.number);
  const result: SupervisorResult = {
    acks: [],
    refused: [],
    intrusions: [],
    takeovers: [],
    unknown: 0,
    locks: 0,
    unlockedNotOurs: 0,
    events: {
      locked: 0,
      transient: 0,
      "moved-while-read": 0,
      "lease-lost": 0,
    },
    violations: [],
    started: 0,
    kills: 0,
    pauses: 0,
    holderHits: 0,
    midCommitHits: 0,
    pausedMs: 0,
    elapsedMs: 0,
    startupMs: 0,
  };
  const running = new Set<Running>();
  const ended: Promise<unknown>[] = [];
  let stopping = false;
  let nextId = 0;

  let committingWaiters: ((r: Running) => void)[] = [];
  /** The next worker to announce a commit, or undefined after `timeoutMs`. */
  const nextCommitting = (timeoutMs: number) =>
    new Promise<Running | undefined>((resolve) => {
      const timer = setTimeout(() => {
        committingWaiters = committingWaiters.filter((w) => w !== onCommitting);
        resolve(undefined);
      }, timeoutMs);
      const onCommitting = (r: Running) => {
        clearTimeout(timer);
        resolve(r);
      };
      committingWaiters.push(onCommitting);
    });

  const onMessage = (r: Running, line: string) => {
    trace(`w${r.id} ${line}`);
    let m: WorkerMessage;
    try {
      m = JSON.parse(line) as WorkerMessage;
    } catch {
      result.violations.push({ worker: r.id, during: "output", code: "BAD_LINE", message: line });
      return;
    }
    switch (m.ev) {
      case "ready":
        r.ready = true;
        break;
      case "committing": {
        const waiters = committingWaiters;
        committingWaiters = [];
        for (const w of waiters) w(r);
        break;
      }
      case "locked":
        result.locks++;
        if (m.from !== undefined) result.takeovers.push({ worker: r.id, lock: m.id, from: m.from });
        break;
      case "unlocked":
        if (!m.released) result.unlockedNotOurs++;
        break;
      case "ack":
        result.acks.push({ address: m.address, rev: m.rev });
        break;
      case "refused":
        result.refused.push({
          address: m.address,
          code: m.code,
          ...(m.rev === undefined ? {} : { rev: m.rev }),
        });
        break;
      case "intrusion":
        result.intrusions.push({
          worker: r.id,
          lock: m.lock,
          during: m.during,
          ...(m.address === undefined ? {} : { address: m.address }),
        });
        break;
      case "unknown":
        result.unknown++;
        break;
      case "event":
        result.events[m.kind]++;
        break;
      case "violation":
        result.violations.push({ worker: r.id, during: m.during, code: m.code, message: m.message });
        break;
    }
  };

  const resume = (r: Running) => {
    if (r.paused === undefined) return;
    clearTimeout(r.paused.resume);
    result.pausedMs += performance.now() - r.paused.since;
    r.paused = undefined;
    r.worker.child.kill("SIGCONT");
    trace(`supervisor SIGCONT w${r.id}`);
  };

  const start = (): Running => {
    const id = ++nextId;
    // startWorker runs fixtures from test/fixtures/backend/; the chaos worker lives beside it.
    const worker = startWorker("../chaos/worker.ts", [JSON.stringify({ ...settings, worker: id })], env);
    const r: Running = { id, worker, ready: false, paused: undefined, killed: false };
    trace(`supervisor started w${id} (pid ${worker.pid})`);
    result.started++;
    running.add(r);
    const lines = createInterface({ input: worker.child.stdout as NodeJS.ReadableStream });
    lines.on("line", (line) => onMessage(r, line));
    ended.push(
      worker.exited.then((exit) => {
        running.delete(r);
        if (r.paused !== undefined) clearTimeout(r.paused.resume);
        if (r.killed) return;
        // A worker ends on its own only after a violation (status 3, already reported) or a crash.
        if (exit.code !== 3)
          result.violations.push({
            worker: id,
            during: "exit",
            code: `EXIT_${exit.code ?? exit.signal}`,
            message: worker.stderr().slice(-2000),
          });
        if (!stopping) start();
      }),
    );
    return r;
  };

  const killWorker = async (r: Running) => {
    r.killed = true;
    if (r.paused !== undefined) {
      clearTimeout(r.paused.resume);
      result.pausedMs += performance.now() - r.paused.since;
      r.paused = undefined;
    }
    await kill9(r.worker);
  };

  // However the run ends (a worker that failed at startup throws out of the wait below), no
  // worker may outlive it: orphans would go on hammering the store and the machine.
  const stopAll = async () => {
    stopping = true;
    for (const r of running) resume(r);
    await Promise.all([...running].map((r) => killWorker(r)));
    await Promise.all(ended);
  };
  try {
    return await runSchedule();
  } finally {
    if (!stopping) await stopAll().catch(() => {});
  }

  async function runSchedule(): Promise<SupervisorResult> {
    const starting = performance.now();
    const first = Array.from({ length: schedule.workers }, start);
    await Promise.all(first.map((r) => r.worker.waitFor((line) => line.includes('"ev":"ready"'))));
    const began = performance.now();
    result.startupMs = began - starting;
    const uniform = (min: number, max: number) => min + random() * (max - min);
    let actions = 0;
    let firstWasKill = false;

    for (;;) {
      const elapsed = performance.now() - began;
      if (elapsed >= schedule.maxDurationMs || (elapsed >= schedule.durationMs && enough(result))) break;
      await sleep(uniform(schedule.gapMs.min, schedule.gapMs.max));
      // The first two actions are one kill and one pause (in random order), so even a short run
      // has both; after that each is drawn at random.
      const kill: boolean = actions === 1 ? !firstWasKill : random() < schedule.killChance;
      const eligible = (r: Running) => r.ready && !r.killed && (kill || r.paused === undefined);
      let target: Running | undefined;
      let how = "";
      const mode = random();
      if (mode < schedule.midCommitChance) {
        const delay = uniform(0, schedule.midCommitDelayMs);
        const committing = await nextCommitting(1000);
        await sleep(delay);
        if (committing !== undefined && eligible(committing)) {
          target = committing;
          how = ` (${Math.round(delay)} ms into a commit)`;
          result.holderHits++;
          result.midCommitHits++;
        }
      } else if (mode < schedule.midCommitChance + (1 - schedule.midCommitChance) * schedule.holderChance) {
        const holder = await lockHolder().catch(() => undefined);
        target = [...running].find((r) => r.worker.pid === holder && eligible(r));
        if (target !== undefined) {
          how = " (lock holder)";
          result.holderHits++;
        }
      }
      const candidates = [...running].filter(eligible);
      target ??= candidates[Math.floor(random() * candidates.length)];
      if (target === undefined) continue;
      if (actions++ === 0) firstWasKill = kill;
      if (kill) {
        result.kills++;
        trace(`supervisor SIGKILL w${target.id}${how}`);
        await killWorker(target);
        start();
      } else {
        const ms = Math.exp(uniform(Math.log(schedule.pauseMs.min), Math.log(schedule.pauseMs.max)));
        target.worker.child.kill("SIGSTOP");
        target.paused = { since: performance.now(), resume: setTimeout(() => resume(target), ms) };
        result.pauses++;
        trace(`supervisor SIGSTOP w${target.id} for ${Math.round(ms)} ms${how}`);
      }
    }

    await stopAll();
    result.elapsedMs = performance.now() - began;
    return result;
  }
}
