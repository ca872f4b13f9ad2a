import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { currentStamp, openStack } from "../fixtures/backend/common.js";
import { checkAlternation, startWorker } from "../fixtures/backend/spawn.js";

const base = mkdtempSync(join(tmpdir(), "statekeeper-xproc-lock-"));
after(() => rmSync(base, { recursive: true, force: true }));

interface RaceResult {
  pid: number;
  acquisitions: { id: string; tookOverFrom: string | null }[];
  violations: string[];
  lostWhileHolding: number;
  notReleased: number;
  timedOut: unknown;
}

// 70 rounds (100 until the log-headed suites joined the time budget; the stack log's own race and
// kill tests, crossprocess-stack-log*, race its lock across processes besides).
test("8 processes × 70 rounds racing lock() on one file-store stack: never two holders, 560 commits", async () => {
  const root = join(base, "store");
  const observer = join(base, "observer");
  mkdirSync(observer);
  const processes = 8;
  const rounds = 70;
  const options = JSON.stringify({ pollMs: 10, commit: true, barrier: true, operation: "race" });
  const workers = Array.from({ length: processes }, () =>
    startWorker("race.ts", [root, "race", observer, String(rounds), options]),
  );
  // Every child has loaded and opened the stack before any races: they really contend.
  await Promise.all(workers.map((w) => w.waitFor("ready")));
  for (const w of workers) w.send("go");
  const results = await Promise.all(workers.map((w) => w.result<RaceResult>()));

  assert.deepEqual(
    results.flatMap((r) => r.violations),
    [],
    "no holder ever found another holder's marker",
  );
  const acquires = checkAlternation(readFileSync(join(observer, "log"), "utf8"));
  assert.equal(acquires.length, processes * rounds);
  for (const r of results) {
    assert.equal(r.acquisitions.length, rounds, `pid ${r.pid} completed every round`);
    assert.equal(r.timedOut, null);
    assert.equal(r.lostWhileHolding, 0, "no lease was lost while held");
    assert.equal(r.notReleased, 0, "every unlock removed the holder's own lock");
    assert.ok(
      r.acquisitions.every((a) => a.tookOverFrom === null),
      "nobody took over a live holder",
    );
  }
  const ids = results.flatMap((r) => r.acquisitions.map((a) => a.id));
  assert.equal(new Set(ids).size, processes * rounds, "every acquisition has its own lock id");
  const pidsInLog = new Set(acquires.map((a) => Number(a.split(" ")[0])));
  assert.deepEqual([...pidsInLog].sort(), results.map((r) => r.pid).sort(), "every process won rounds");

  // Each holder committed current+1: a lost update or a fenced commit would leave fewer.
  const backend = openStack(root, "race");
  const current = await currentStamp(backend);
  assert.equal(current?.stamp.seq, processes * rounds);
  assert.equal((await backend.list()).length, processes * rounds, "no orphaned revision");
  assert.equal(await backend.lockInfo(), undefined, "the lock is free at the end");
});
