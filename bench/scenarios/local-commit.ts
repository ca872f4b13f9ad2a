import { randomBytes } from "node:crypto";
import { mkdir, open, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import * as lockfile from "proper-lockfile";
import writeFileAtomic from "write-file-atomic";
import { createBackend, type HeadMode } from "../../src/backend/index.js";
import { keyEncrypter, noopEncrypter } from "../../src/crypto/index.js";
import type { Encrypter } from "../../src/crypto/types.js";
import { fsyncDir } from "../../src/objectstore/file/fs-ops.js";
import { fileStore } from "../../src/objectstore/file.js";
import { encodeSnapshot, newRevision, type Snapshot } from "../../src/snapshot/index.js";
import { recordingStore } from "../../src/testing/store-decorators.js";
import { withTempDir } from "../lib/dirs.js";
import { benchKey, makeSnapshot } from "../lib/fixtures.js";
import { heldLockCommits } from "../lib/held-lock.js";
import { log, pick, rate, type ScenarioResult } from "../lib/measure.js";

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
  const n = pick(1000, 60);
  const snapshot = makeSnapshot("local", ENTRIES);
  const bytes = encodeSnapshot(snapshot);
  log(`1 local commit cycle: ${n} commits of ${ENTRIES} entries (${bytes.byteLength} bytes)`);
  const cycle = (name: string, encrypter: () => Encrypter, head: HeadMode) =>
    withTempDir(name, (d) => statekeeperCycle(d, encrypter(), n, snapshot, head));
  const noop = await cycle("local-noop", noopEncrypter, "pointer");
  const noopLog = await cycle("local-noop-log", noopEncrypter, "log");
  const keyed = await cycle("local-key", () => keyEncrypter({ key: benchKey() }), "pointer");
  const keyedLog = await cycle("local-key-log", () => keyEncrypter({ key: benchKey() }), "log");
  const plain = await withTempDir("local-wfa", (d) => plainUserCycle(d, n, snapshot));
  const floor = await withTempDir("local-floor", (d) => floorCycle(d, n, bytes));
  const held = await withTempDir("local-held", (d) => heldLockCommits(fileStore(d), n, snapshot, "pointer"));
  const heldLog = await withTempDir("local-held-log", (d) =>
    heldLockCommits(fileStore(d), n, snapshot, "log"),
  );
  const bare = await withTempDir("local-bare", (d) => bareWrites(d, n, bytes));
  const bareDurable = await withTempDir("local-bare-durable", (d) => bareWrites(d, n, bytes, true));
  const baselines = [
    { name: "write-file-atomic + proper-lockfile", value: plain },
    { name: "floor: O_EXCL lock + write/fsync/rename ×2", value: floor },
  ];
  return {
    id: "1-local-commit",
    title: `Commit cycle on a local folder (lock → write → set current → unlock), ${n} commits × ${ENTRIES} entries (${(bytes.byteLength / 1e6).toFixed(2)} MB)`,
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
        ],
        extra: { storeRequestsPerCommit: r.requestsPerCommit, meanRevisionBytes: r.meanRevisionBytes },
      })),
    ],
  };
}
