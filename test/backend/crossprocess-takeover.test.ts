import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { generateKey } from "../../src/crypto/index.js";
import { currentStamp, KEY_ENV, openStack, stampedSnapshot } from "../fixtures/backend/common.js";
import { checkAlternation, kill9, startAgent, startWorker } from "../fixtures/backend/spawn.js";

const base = mkdtempSync(join(tmpdir(), "statekeeper-xproc-takeover-"));
after(() => rmSync(base, { recursive: true, force: true }));
let counter = 0;
function fresh(): { root: string; observer: string } {
  const dir = join(base, `case-${++counter}`);
  const observer = join(dir, "observer");
  mkdirSync(observer, { recursive: true });
  return { root: join(dir, "store"), observer };
}

interface RaceResult {
  pid: number;
  acquisitions: { id: string; tookOverFrom: string | null }[];
  violations: string[];
  lostWhileHolding: number;
  notReleased: number;
  timedOut: unknown;
}

/**
 * A holder with a short lease is kill -9ed while `waiters` processes race for the lock. `when`:
 * "waiting" kills it once every waiter has found it held; "before" kills it first, then releases
 * all waiters at once, so their leases of the dead lock expire together and they break it racing.
 */
async function waitersBehindKilledHolder(
  root: string,
  observer: string,
  waiters: number,
  rounds: number,
  when: "waiting" | "before",
  options: Record<string, unknown>,
): Promise<{ deadLockId: string; deadPid: number; results: RaceResult[]; acquires: string[] }> {
  const holder = await startAgent(root, "s");
  // Long enough that a holder starved by a loaded machine still renews it while the waiters start
  // (a lapsed lease would let a waiter in before it ever waited).
  const held = await holder.ask("lock", { leaseMs: 3000, operation: "doomed" });
  assert.ok(held.ok, held.message);
  // Waiters hold with a long lease of their own: only the dead holder's lease may lapse here.
  const args = JSON.stringify({
    leaseMs: 30_000,
    pollMs: 10,
    timeoutMs: 60_000,
    barrier: when === "before",
    ...options,
  });
  const workers = Array.from({ length: waiters }, () =>
    startWorker("race.ts", [root, "s", observer, String(rounds), args]),
  );
  if (when === "waiting") await Promise.all(workers.map((w) => w.waitFor("waiting")));
  const killed = await kill9(holder);
  assert.equal(killed.signal, "SIGKILL");
  if (when === "before") {
    await Promise.all(workers.map((w) => w.waitFor("ready")));
    for (const w of workers) w.send("go");
  }
  const results = await Promise.all(workers.map((w) => w.result<RaceResult>()));
  for (const r of results) {
    assert.deepEqual(r.violations, [], "no holder ever found another holder's marker");
    assert.equal(r.timedOut, null, "every waiter eventually got the lock");
    assert.equal(r.lostWhileHolding, 0);
    assert.equal(r.notReleased, 0);
  }
  const acquires = checkAlternation(readFileSync(join(observer, "log"), "utf8"));
  return { deadLockId: held.lockId as string, deadPid: holder.pid, results, acquires };
}

describe("the backend's lock across processes (file store)", () => {
  test("B times out naming A; A unlocks and B gets its own lock; force-unlock hands over", async () => {
    const { root } = fresh();
    const a = await startAgent(root, "s");
    const b = await startAgent(root, "s");
    try {
      const heldA = await a.ask("lock", { operation: "apply-A" });
      assert.ok(heldA.ok, heldA.message);

      const refused = await b.ask("lock", { timeoutMs: 300, operation: "apply-B" });
      assert.equal(refused.ok, false);
      assert.equal(refused.code, "E_LOCKED");
      assert.equal(refused.holder?.pid, a.pid);
      assert.equal(refused.holder?.operation, "apply-A");
      assert.equal(refused.holder?.id, heldA.lockId);
      assert.match(refused.message ?? "", new RegExp(`pid ${a.pid}\\b.*"apply-A"`));

      assert.equal((await a.ask("unlock")).released, true);
      const heldB = await b.ask("lock", { timeoutMs: 10_000, operation: "apply-B" });
      assert.ok(heldB.ok, heldB.message);
      assert.notEqual(heldB.lockId, heldA.lockId);
      assert.equal(heldB.tookOverFrom, null, "a released lock is created anew, not taken over");
      const backend = openStack(root, "s");
      assert.equal((await backend.lockInfo())?.pid, b.pid);

      // Force-unlock removes B's live lock; A locks; B's unlock must not remove A's lock.
      assert.equal((await backend.forceUnlock())?.id, heldB.lockId);
      const heldA2 = await a.ask("lock", { timeoutMs: 10_000, operation: "apply-A2" });
      assert.ok(heldA2.ok, heldA2.message);
      assert.equal((await b.ask("unlock")).released, false);
      assert.equal((await backend.lockInfo())?.id, heldA2.lockId, "the successor's lock survived");
      assert.equal((await a.ask("unlock")).released, true);
      assert.equal(await backend.lockInfo(), undefined);
    } finally {
      a.child.kill("SIGKILL");
      b.child.kill("SIGKILL");
    }
  });

  test("kill -9 of a holder: exactly one of 4 waiters takes over after the lease; the rest wait their turn", async () => {
    const { root, observer } = fresh();
    const { deadLockId, deadPid, results, acquires } = await waitersBehindKilledHolder(
      root,
      observer,
      4,
      1,
      "waiting",
      {
        holdMs: 400,
      },
    );
    const takers = results.filter((r) => r.acquisitions.some((a) => a.tookOverFrom !== null));
    assert.equal(takers.length, 1, "exactly one waiter took over");
    assert.deepEqual(
      takers[0]?.acquisitions.map((a) => a.tookOverFrom),
      [deadLockId],
      "it took over from the dead holder",
    );
    assert.equal(acquires.length, 4, "each waiter got the lock once, one after another");
    assert.equal(acquires[0], `${takers[0]?.pid} 0`, "the takeover came first");
    assert.ok(!acquires.some((a) => a.startsWith(`${deadPid} `)));
  });

  test("racing breakers, 3 times: 6 waiters released together at a dead lock — one winner at a time throughout", async () => {
    // Repeated because whether two breakers' attempts really overlap depends on scheduling.
    for (let attempt = 0; attempt < 3; attempt++) {
      const { root, observer } = fresh();
      const { deadLockId, results, acquires } = await waitersBehindKilledHolder(
        root,
        observer,
        6,
        3,
        "before",
        {
          holdMs: 5,
          pollMs: 2,
          commit: true,
        },
      );
      const takeovers = results.flatMap((r) =>
        r.acquisitions
          .filter((a) => a.tookOverFrom !== null)
          .map((a) => ({ pid: r.pid, from: a.tookOverFrom })),
      );
      assert.equal(takeovers.length, 1, "one takeover in all 18 acquisitions");
      assert.equal(takeovers[0]?.from, deadLockId);
      assert.equal(acquires[0], `${takeovers[0]?.pid} 0`, "the takeover came first");
      assert.equal(acquires.length, 18);
      const backend = openStack(root, "s");
      assert.equal(
        (await currentStamp(backend))?.stamp.seq,
        18,
        "every holder's commit landed on its predecessor's",
      );
      assert.equal(await backend.lockInfo(), undefined);
    }
  });

  test("SIGSTOP a holder after it read state, force-unlock, B commits, SIGCONT: A is fenced and current is B's", async () => {
    const { root } = fresh();
    const env = { [KEY_ENV]: generateKey() };
    const backend = openStack(root, "s", { ...process.env, ...env });
    const seedRev = await backend.commit(
      stampedSnapshot("s", { seq: 1, parent: "", writer: process.pid, tag: "seed" }),
    );
    const a = await startAgent(root, "s", env);
    const b = await startAgent(root, "s", env);
    try {
      // A long lease: A's lock does not lapse while paused, so only the fence can stop it.
      const heldA = await a.ask("lock", { leaseMs: 60_000, operation: "apply-A" });
      assert.ok(heldA.ok, heldA.message);
      assert.deepEqual(await a.ask("read"), { id: 2, ok: true, rev: seedRev, seq: 1 });
      assert.ok(a.child.kill("SIGSTOP"));

      assert.equal((await backend.forceUnlock())?.pid, a.pid);
      const heldB = await b.ask("lock", { timeoutMs: 10_000, operation: "apply-B" });
      assert.ok(heldB.ok, heldB.message);
      assert.equal((await b.ask("read")).seq, 1);
      const committedB = await b.ask("commit", { tag: "B" });
      assert.ok(committedB.ok, committedB.message);

      // A's commit is queued while it is stopped, so it runs the moment A resumes.
      const fenced = a.ask("commit", { tag: "A" });
      assert.ok(a.child.kill("SIGCONT"));
      const answer = await fenced;
      assert.equal(answer.ok, false);
      assert.equal(answer.code, "E_FENCED", answer.message);
      assert.equal((await a.ask("unlock")).released, false, "A's unlock leaves B's lock alone");
      assert.equal((await backend.lockInfo())?.id, heldB.lockId);

      const current = await currentStamp(backend);
      assert.equal(current?.rev, committedB.rev);
      assert.deepEqual(current?.stamp, { seq: 2, parent: seedRev, writer: b.pid, tag: "B" });
      // A's sealed revision was written before the fence refused the pointer: an orphan, intact.
      const orphan = answer.details?.rev;
      assert.equal(typeof orphan, "string");
      assert.deepEqual((await backend.list()).sort(), [seedRev, committedB.rev, orphan].sort());
      assert.equal((await backend.get(orphan as string)).entries[0]?.inputs?.tag, "A");
      assert.equal((await b.ask("unlock")).released, true);
    } finally {
      a.child.kill("SIGKILL");
      b.child.kill("SIGKILL");
    }
  });
});
