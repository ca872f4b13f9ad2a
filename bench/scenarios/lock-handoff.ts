import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import * as lockfile from "proper-lockfile";
import { createBackend, DEFAULT_POLL_MS } from "../../src/backend/index.js";
import { noopEncrypter } from "../../src/crypto/index.js";
import { fileStore } from "../../src/objectstore/file.js";
import type { ObjectStore } from "../../src/objectstore/types.js";
import { withTempDir } from "../lib/dirs.js";
import { log, percentile, pick, type Row, type ScenarioResult } from "../lib/measure.js";
import { benchS3Store } from "../lib/s3.js";
import type { S3Server } from "../lib/server.js";

/** How long the holder keeps the lock once the waiter is waiting: lands the release mid-poll. */
const holdMs = () => 30 + Math.random() * 40;

/**
 * Two backends (two writers) on one store. Each round: A holds, B starts waiting, A unlocks at
 * t0, B holds at t1; the sample is t1 - t0. Then B releases and the roles stay the same.
 */
async function statekeeperHandoff(store: ObjectStore, pollMs: number, rounds: number): Promise<number[]> {
  const open = () =>
    createBackend(store, {
      factory: "bench",
      stack: "handoff",
      encrypter: noopEncrypter(),
      lockDefaults: { pollMs },
    });
  const holder = open();
  const waiter = open();
  await (await waiter.lock()).unlock();
  const out: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const held = await holder.lock();
    let releasedAt = 0;
    const waiting = waiter.lock().then((l) => ({ l, at: performance.now() }));
    await sleep(holdMs());
    releasedAt = performance.now();
    await held.unlock();
    const { l, at } = await waiting;
    out.push(at - releasedAt);
    await l.unlock();
  }
  return out;
}

async function properLockfileHandoff(dir: string, pollMs: number, rounds: number): Promise<number[]> {
  const target = join(dir, "stack");
  await mkdir(target, { recursive: true });
  const retries = { retries: 100_000, factor: 1, minTimeout: pollMs, maxTimeout: pollMs };
  const out: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const release = await lockfile.lock(target, { stale: 30_000 });
    const waiting = lockfile
      .lock(target, { stale: 30_000, retries })
      .then((rel) => ({ rel, at: performance.now() }));
    await sleep(holdMs());
    const releasedAt = performance.now();
    await release();
    const { rel, at } = await waiting;
    out.push(at - releasedAt);
    await rel();
  }
  return out;
}

function row(
  where: string,
  pollMs: number,
  sk: number[],
  baselines: Array<{ name: string; values: number[] }>,
): Row[] {
  return [50, 99].map((p) => ({
    metric: `${where}: hand-off p${p} ms, pollMs ${pollMs} (${sk.length} rounds)`,
    unit: "ms",
    better: "lower" as const,
    statekeeper: { name: `statekeeper ${where}`, value: percentile(sk, p) },
    baselines: baselines.map((b) => ({ name: b.name, value: percentile(b.values, p) })),
  }));
}

export async function lockHandoffScenario(server: S3Server): Promise<ScenarioResult> {
  const slowRounds = pick(16, 4);
  const fastRounds = pick(60, 10);
  const fastPoll = 20;
  log(
    `6 lock hand-off: pollMs ${DEFAULT_POLL_MS} × ${slowRounds}, pollMs ${fastPoll} × ${fastRounds}, file and S3`,
  );
  const rows: Row[] = [];
  await withTempDir("handoff", async (dir) => {
    const slow = await statekeeperHandoff(fileStore(join(dir, "sk-slow")), DEFAULT_POLL_MS, slowRounds);
    const plfSlow = await properLockfileHandoff(join(dir, "plf-slow"), DEFAULT_POLL_MS, slowRounds);
    rows.push(
      ...row("file", DEFAULT_POLL_MS, slow, [
        { name: `proper-lockfile, retry every ${DEFAULT_POLL_MS} ms`, values: plfSlow },
      ]),
    );
    const fast = await statekeeperHandoff(fileStore(join(dir, "sk-fast")), fastPoll, fastRounds);
    const plfFast = await properLockfileHandoff(join(dir, "plf-fast"), fastPoll, fastRounds);
    rows.push(
      ...row("file", fastPoll, fast, [
        { name: `proper-lockfile, retry every ${fastPoll} ms`, values: plfFast },
      ]),
    );
  });
  const s3Slow = await statekeeperHandoff(
    benchS3Store(server, "nodelay", "handoff-slow"),
    DEFAULT_POLL_MS,
    slowRounds,
  );
  const s3Fast = await statekeeperHandoff(
    benchS3Store(server, "nodelay", "handoff-fast"),
    fastPoll,
    fastRounds,
  );
  // No ready-made S3 lock a TypeScript user would pick: the poll interval itself is the yardstick.
  rows.push(...row("s3", DEFAULT_POLL_MS, s3Slow, []), ...row("s3", fastPoll, s3Fast, []));
  return {
    id: "6-lock-handoff",
    title: "Lock hand-off latency: holder unlocks → waiter holds (two writers in one process, one store)",
    rows,
  };
}
