import { randomBytes } from "node:crypto";
import { closeSync, openSync, renameSync, writeSync } from "node:fs";
import { mkdir, open, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import * as lockfile from "proper-lockfile";
import writeFileAtomic from "write-file-atomic";
import { createBackend, type HeadMode } from "../../src/backend/index.js";
import { keyEncrypter, noopEncrypter } from "../../src/crypto/index.js";
import type { Encrypter } from "../../src/crypto/types.js";
import { fsyncDir, fsyncFd } from "../../src/objectstore/file/fs-ops.js";
import { fileStore } from "../../src/objectstore/file.js";
import { encodeSnapshot, newRevision, type Snapshot } from "../../src/snapshot/index.js";
import { recordingStore } from "../../src/testing/store-decorators.js";
import { withTempDir } from "../lib/dirs.js";
import { benchKey, makeSnapshot } from "../lib/fixtures.js";
import { heldLockCommits } from "../lib/held-lock.js";
import { interleaved, log, mean, median, pick, rate, type ScenarioResult } from "../lib/measure.js";

const ENTRIES = 100;

async function statekeeperCycle(
  dir: string,
  encrypter: Encrypter,
  n: number,
  snapshot: Snapshot,
  head: HeadMode,
) {
  const recorded = recordingStore(fileStore(dir));
  const backend = createBackend(recorded.store, { factory: "bench", stack: "local", encrypter, head });
  // One untimed cycle: the capability probe runs once per backend, not per commit.
  await (await backend.lock()).unlock();
  recorded.calls.length = 0;
  const perSecond = await rate(n, async () => {
    const lock = await backend.lock();
    await backend.commit(snapshot);
    await lock.unlock();
  });
  return { perSecond, requestsPerCommit: recorded.calls.length / n };
}

/**
 * The bare floor of one replace: the same encoded state written, fsynced and renamed. With
 * `dirSync`, the folder is fsynced after the rename too, which alone makes the rename survive a
 * power loss (what every statekeeper write does).
 */
async function bareWrites(dir: string, n: number, bytes: Uint8Array, dirSync = false) {
  const path = join(dir, "state.json");
  return rate(n, async () => {
    await writeFsyncRename(path, bytes);
    if (dirSync) await fsyncDir(dir);
  });
}

/**
 * The bare floor again, with its calls made as the file store makes them (docs/file-store.md,
 * "Synchronous calls"): open, write, close and rename synchronous, only the fsync on the thread
 * pool. Not a target: it shows how much of the gap to the floor is the store's own work.
 */
async function bareWritesSyncCalls(dir: string, n: number, bytes: Uint8Array) {
  const path = join(dir, "state.json");
  return rate(n, async () => {
    const temp = `${path}.${randomBytes(4).toString("hex")}.tmp`;
    const fd = openSync(temp, "w");
    try {
      for (let at = 0; at < bytes.byteLength; ) at += writeSync(fd, bytes, at);
      await fsyncFd(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  });
}

/** What a plain TypeScript user writes: proper-lockfile around write-file-atomic (fsync on by default). */
async function plainUserCycle(dir: string, n: number, snapshot: Snapshot) {
  const stackDir = join(dir, "bench", "local");
  await mkdir(join(stackDir, "snapshots"), { recursive: true });
  return rate(n, async () => {
    const release = await lockfile.lock(stackDir, { stale: 30_000 });
    const rev = newRevision();
    await writeFileAtomic(join(stackDir, "snapshots", `${rev}.json`), JSON.stringify(snapshot));
    await writeFileAtomic(join(stackDir, "current"), JSON.stringify({ rev }));
    await release();
  });
}

async function writeFsyncRename(path: string, body: Uint8Array): Promise<void> {
  const temp = `${path}.${randomBytes(4).toString("hex")}.tmp`;
  const fh = await open(temp, "w");
  try {
    await fh.write(body);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(temp, path);
}

/** The physical floor: an O_EXCL lock file, the same encoded bytes written + fsynced + renamed, the pointer likewise. */
async function floorCycle(dir: string, n: number, bytes: Uint8Array) {
  const stackDir = join(dir, "bench", "local");
  await mkdir(join(stackDir, "snapshots"), { recursive: true });
  const lockPath = join(stackDir, "lock");
  return rate(n, async () => {
    await (await open(lockPath, "wx")).close();
    const rev = newRevision();
    await writeFsyncRename(join(stackDir, "snapshots", `${rev}.json`), bytes);
    await writeFsyncRename(join(stackDir, "current"), new TextEncoder().encode(`{"rev":"${rev}"}`));
    await unlink(lockPath);
  });
}

export async function localCommitScenario(): Promise<ScenarioResult> {
  const n = pick(600, 60);
  const heldN = pick(600, 60);
  const rounds = pick(3, 1);
  // The bare floor moves by up to 1.8x between rounds (its 0.67 MB writes meet the disk's
  // writeback in whatever state it is), far more than the commits do: more, shorter rounds.
  const heldRounds = pick(5, 1);
  const snapshot = makeSnapshot("local", ENTRIES);
  const bytes = encodeSnapshot(snapshot);
  log(
    `1 local commit cycle: ${rounds} interleaved rounds of ${n} commits of ${ENTRIES} entries (${bytes.byteLength} bytes), then ${heldRounds} of ${heldN} held-lock commits`,
  );
  const cycle = (name: string, encrypter: () => Encrypter, head: HeadMode) => () =>
    withTempDir(name, (d) => statekeeperCycle(d, encrypter(), n, snapshot, head));
  // Each side of a comparison in turn, round after round (see `interleaved`): measured one after
  // the other, the floors ran after the statekeeper sides had left the disk busy, and the ratio
  // moved by more than the code did.
  const cycles = await interleaved(
    rounds,
    {
      noop: cycle("local-noop", noopEncrypter, "pointer"),
      noopLog: cycle("local-noop-log", noopEncrypter, "log"),
      keyed: cycle("local-key", () => keyEncrypter({ key: benchKey() }), "pointer"),
      keyedLog: cycle("local-key-log", () => keyEncrypter({ key: benchKey() }), "log"),
      plain: () => withTempDir("local-wfa", (d) => plainUserCycle(d, n, snapshot)),
      floor: () => withTempDir("local-floor", (d) => floorCycle(d, n, bytes)),
    },
    "1 local commit cycle",
  );
  const helds = await interleaved(
    heldRounds,
    {
      held: () => withTempDir("local-held", (d) => heldLockCommits(fileStore(d), heldN, snapshot, "pointer")),
      heldLog: () =>
        withTempDir("local-held-log", (d) => heldLockCommits(fileStore(d), heldN, snapshot, "log")),
      bare: () => withTempDir("local-bare", (d) => bareWrites(d, heldN, bytes)),
      bareDurable: () => withTempDir("local-bare-durable", (d) => bareWrites(d, heldN, bytes, true)),
      bareSyncCalls: () => withTempDir("local-bare-sync", (d) => bareWritesSyncCalls(d, heldN, bytes)),
    },
    "1 held-lock commits",
  );
  const rateOf = (r: number | { perSecond: number }) => (typeof r === "number" ? r : r.perSecond);
  for (const [side, runs] of Object.entries({ ...cycles, ...helds }))
    log(`1 local commit cycle: ${side} per round ${runs.map((r) => rateOf(r).toFixed(1)).join(", ")} /s`);
  // Each round's own ratio, its sides measured seconds apart: drift between rounds cancels.
  const paired = (runs: { perSecond: number }[], floor: number[]) =>
    runs.map((r, i) => r.perSecond / (floor[i] as number));
  const heldLogPaired = paired(helds.heldLog, helds.bare);
  log(
    `1 local commit cycle: held-lock log ÷ bare floor per round ${heldLogPaired.map((x) => x.toFixed(2)).join(", ")} (median ${median(heldLogPaired).toFixed(2)})`,
  );
  /** A side's median rate over its rounds, with the mean of its other figures. */
  const summary = (runs: { perSecond: number; requestsPerCommit: number; meanRevisionBytes?: number }[]) => ({
    perSecond: median(runs.map((r) => r.perSecond)),
    requestsPerCommit: mean(runs.map((r) => r.requestsPerCommit)),
    meanRevisionBytes: Math.round(mean(runs.map((r) => r.meanRevisionBytes ?? 0))),
  });
  const noop = summary(cycles.noop);
  const noopLog = summary(cycles.noopLog);
  const keyed = summary(cycles.keyed);
  const keyedLog = summary(cycles.keyedLog);
  const plain = median(cycles.plain);
  const floor = median(cycles.floor);
  const held = summary(helds.held);
  const heldLog = summary(helds.heldLog);
  const bare = median(helds.bare);
  const bareDurable = median(helds.bareDurable);
  const bareSyncCalls = median(helds.bareSyncCalls);
  const baselines = [
    { name: "write-file-atomic + proper-lockfile", value: plain },
    { name: "floor: O_EXCL lock + write/fsync/rename ×2", value: floor },
  ];
  return {
    id: "1-local-commit",
    title: `Commit cycle on a local folder (lock → write → set current → unlock), medians of ${rounds} interleaved rounds of ${n} commits × ${ENTRIES} entries (${(bytes.byteLength / 1e6).toFixed(2)} MB)`,
    rows: [
      ...[
        { metric: "noop encrypter, current pointer", name: "noop, pointer", r: noop },
        { metric: "noop encrypter, stack log", name: "noop, log", r: noopLog },
        { metric: "key encrypter (AES-256-GCM), current pointer", name: "key, pointer", r: keyed },
        { metric: "key encrypter (AES-256-GCM), stack log", name: "key, log", r: keyedLog },
      ].map(({ metric, name, r }) => ({
        metric: `commits/s, ${metric}`,
        unit: "commits/s",
        better: "higher" as const,
        statekeeper: { name: `statekeeper file (${name})`, value: r.perSecond },
        baselines,
        extra: { storeRequestsPerCommit: r.requestsPerCommit },
      })),
      ...[
        { head: "current pointer", name: "pointer", r: held },
        { head: "stack log", name: "log", r: heldLog },
      ].map(({ head, name, r }) => ({
        metric: `commits/s under a held lock, one-entry commitChanges (noop), ${head}`,
        unit: "commits/s",
        better: "higher" as const,
        statekeeper: { name: `statekeeper file, lock held (${name})`, value: r.perSecond },
        baselines: [
          { name: "floor: the whole state written/fsynced/renamed", value: bare },
          { name: "durable floor: the same, then the folder fsynced", value: bareDurable },
          { name: "floor with the file store's synchronous calls (not a target)", value: bareSyncCalls },
        ],
        extra: {
          storeRequestsPerCommit: r.requestsPerCommit,
          meanRevisionBytes: r.meanRevisionBytes,
          ratioToBarePerRound: paired(name === "log" ? helds.heldLog : helds.held, helds.bare)
            .map((x) => x.toFixed(3))
            .join(" "),
        },
      })),
    ],
  };
}
