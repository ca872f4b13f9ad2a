import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { Backend } from "../../src/backend/index.js";
import { generateKey } from "../../src/crypto/index.js";
import { TEMP_DIR_NAME } from "../../src/objectstore/file/temps.js";
import {
  currentStamp,
  FACTORY,
  KEY_ENV,
  openStack,
  readStamp,
  type Stamp,
  stampedSnapshot,
} from "../fixtures/backend/common.js";
import { kill9, startWorker } from "../fixtures/backend/spawn.js";

const base = mkdtempSync(join(tmpdir(), "statekeeper-xproc-crash-"));
after(() => rmSync(base, { recursive: true, force: true }));

const LANES = 4;
// 88 kills in all (120 until the log-headed crash tests joined the suite's time budget): the
// format-2 and log crash tests (crossprocess-crash-format2*, crossprocess-crash-log*) add theirs.
const KILLS_PER_LANE = 22;
/** Kill delays after "ready" are spread over this window: it covers several commit cycles. */
const KILL_WINDOW_MS = 250;

/**
 * The file store's temp files (`.<kind>.<pid>.<hex>.tmp`) left by `pids` and mutexes left in a
 * folder. Temps belong in the root's temp folder, but any found beside objects count too.
 */
function leftovers(dir: string, pids: Set<number>): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((name) => {
    const temp = /^\..*\.(\d+)\.[0-9a-f]+\.tmp$/.exec(name);
    return (temp !== null && pids.has(Number(temp[1]))) || name.endsWith(".mutex");
  });
}

/** Everywhere a commit of `stack` leaves files: its folders, and the store's one temp folder. */
const leftoverFolders = (root: string, stack: string) => [
  join(root, FACTORY, stack),
  join(root, FACTORY, stack, "snapshots"),
  join(root, TEMP_DIR_NAME),
];

interface LaneReport {
  stack: string;
  kills: number;
  diedHolding: number;
  interruptedWrites: number;
  killedPids: Set<number>;
}

/** Starts and kill -9s commit-loop workers on one stack; after each kill, `current` must open and verify. */
async function lane(
  root: string,
  stack: string,
  backend: Backend,
  env: NodeJS.ProcessEnv,
): Promise<LaneReport> {
  const report: LaneReport = { stack, kills: 0, diedHolding: 0, interruptedWrites: 0, killedPids: new Set() };
  let lastSeq = 0;
  for (let k = 0; k < KILLS_PER_LANE; k++) {
    const worker = startWorker("commit-loop.ts", [root, stack], env);
    await worker.waitFor("ready");
    // Every fifth worker first completes a commit, so each lane makes progress however slow the machine.
    if (k % 5 === 0) await worker.waitFor("committed");
    await sleep(Math.random() * KILL_WINDOW_MS);
    const exit = await kill9(worker);
    assert.equal(exit.signal, "SIGKILL", `the worker failed on its own before the kill: ${worker.stderr()}`);
    report.kills++;
    report.killedPids.add(worker.pid);
    const only = new Set([worker.pid]);
    if (leftoverFolders(root, stack).some((dir) => leftovers(dir, only).length > 0))
      report.interruptedWrites++;

    const holder = await backend.lockInfo();
    if (holder !== undefined) {
      assert.equal(holder.pid, worker.pid, "only the dead worker can hold this stack's lock");
      assert.equal((await backend.forceUnlock())?.id, holder.id);
      report.diedHolding++;
    }
    const seen = await currentStamp(backend);
    if (seen === undefined) {
      assert.equal(lastSeq, 0, "current never disappears once set");
      continue;
    }
    assert.ok((await backend.list()).includes(seen.rev), `current ${seen.rev} is a listed revision`);
    assert.ok(seen.stamp.seq >= lastSeq, "current never moves backwards");
    lastSeq = seen.stamp.seq;
  }
  return report;
}

/**
 * Walks the parents from current back to the first commit, and checks every other revision is an
 * orphan a killed writer left between writing its snapshot and moving `current`.
 */
async function checkHistory(
  backend: Backend,
  killedPids: Set<number>,
): Promise<{ chain: number; orphans: number }> {
  const revs = await backend.list();
  const stamps = new Map<string, Stamp>();
  for (const rev of revs) stamps.set(rev, readStamp(await backend.get(rev)));
  const chain: string[] = [];
  for (let rev = (await currentStamp(backend))?.rev ?? ""; rev !== ""; rev = stamps.get(rev)?.parent ?? "") {
    assert.ok(stamps.has(rev), `the history names ${rev}, which is listed`);
    chain.unshift(rev);
  }
  for (const [i, rev] of chain.entries())
    assert.equal(stamps.get(rev)?.seq, i + 1, "the committed history has no gap");
  const onChain = new Set(chain);
  const orphanWriters: number[] = [];
  for (const rev of revs.filter((r) => !onChain.has(r))) {
    const stamp = stamps.get(rev) as Stamp;
    assert.ok(killedPids.has(stamp.writer), `orphan ${rev} was written by a killed worker`);
    const parentSeq = stamp.parent === "" ? 0 : stamps.get(stamp.parent)?.seq;
    assert.ok(stamp.parent === "" || onChain.has(stamp.parent), `orphan ${rev} was built on a committed rev`);
    assert.equal(stamp.seq, (parentSeq ?? -1) + 1);
    orphanWriters.push(stamp.writer);
  }
  assert.equal(new Set(orphanWriters).size, orphanWriters.length, "at most one orphan per killed worker");
  assert.equal(chain.length + orphanWriters.length, revs.length);
  return { chain: chain.length, orphans: orphanWriters.length };
}

test(`kill -9 during an encrypted commit loop, ${LANES * KILLS_PER_LANE} times: current always opens and verifies`, async () => {
  const root = join(base, "store");
  const env = { [KEY_ENV]: generateKey() };
  const backendEnv = { ...process.env, ...env };
  const stacks = Array.from({ length: LANES }, (_, i) => `crash-${i}`);
  const backends = stacks.map((stack) => openStack(root, stack, backendEnv));
  const reports = await Promise.all(stacks.map((stack, i) => lane(root, stack, backends[i] as Backend, env)));

  const killedPids = new Set(reports.flatMap((r) => [...r.killedPids]));
  assert.equal(killedPids.size, LANES * KILLS_PER_LANE);
  let totalOrphans = 0;
  let totalCommits = 0;
  for (const [i, report] of reports.entries()) {
    const backend = backends[i] as Backend;
    const { chain, orphans } = await checkHistory(backend, report.killedPids);
    assert.ok(chain > 0, `${report.stack}: workers committed before being killed`);
    assert.ok(orphans <= report.kills);
    totalOrphans += orphans;
    totalCommits += chain;

    // A later commit breaks the dead workers' mutexes beside its keys and sweeps their temps.
    const lock = await backend.lock({ timeoutMs: 5_000 });
    const seen = await currentStamp(backend);
    const stamp = { seq: chain + 1, parent: seen?.rev ?? "", writer: process.pid, tag: "after" };
    await backend.commit(stampedSnapshot(report.stack, stamp));
    assert.equal(await lock.unlock(), true);
    for (const dir of leftoverFolders(root, report.stack))
      assert.deepEqual(leftovers(dir, report.killedPids), [], `no dead worker's temp or mutex in ${dir}`);
    assert.deepEqual((await currentStamp(backend))?.stamp, stamp);
  }
  const diedHolding = reports.reduce((n, r) => n + r.diedHolding, 0);
  const interrupted = reports.reduce((n, r) => n + r.interruptedWrites, 0);
  console.log(
    `kills ${killedPids.size}: commits ${totalCommits}, orphans ${totalOrphans}, died holding the lock ${diedHolding}, left temps ${interrupted}`,
  );
  assert.ok(diedHolding > 0, "some kills landed while the lock was held");
});
