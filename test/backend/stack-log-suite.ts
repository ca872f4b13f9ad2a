// The stack log's protocol (src/backend/stack-log.ts) on one store: lock, commit, renew, take over,
// break and resume as create-only entries, and its fence. Run on memory, file and RGW, each also
// through `ignoringIfMatchStore`: the protocol must hold where If-Match does nothing.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import { StackLog } from "../../src/backend/stack-log.js";
import { hasErrorCode } from "../../src/errors.js";
import type { ObjectStore } from "../../src/objectstore/index.js";
import { type ManualClock, manualClock, recordingStore } from "../../src/testing/index.js";
import { countCalls } from "../../src/testing/store-decorators.js";

const text = (s: string) => new TextEncoder().encode(s);
const untext = (b: Uint8Array) => new TextDecoder().decode(b);

/** A log under a fresh prefix of `store`, as one process (with its own clock) sees it. */
export function freshLog(store: ObjectStore, clock?: ManualClock) {
  const base = `f/s-${randomBytes(4).toString("hex")}/`;
  const open = (on: ObjectStore = store, c = clock) =>
    new StackLog(on, `${base}log/`, `${base}head`, {
      subject: `stack f/${base}`,
      ...(c === undefined ? {} : { clock: c }),
    });
  return { base, open };
}

/**
 * A store that knows how many of its calls are in flight, so a test can let manual time pass only
 * while nobody waits for the store: leases then measure the protocol, not the store's latency.
 */
function trackedStore(inner: ObjectStore): { store: ObjectStore; idle: () => Promise<void> } {
  let inFlight = 0;
  const track = async <T>(p: Promise<T>): Promise<T> => {
    inFlight++;
    try {
      return await p;
    } finally {
      inFlight--;
    }
  };
  const store: ObjectStore = {
    name: inner.name,
    get: (k) => track(inner.get(k)),
    head: (k) => track(inner.head(k)),
    put: (k, b, o) => track(inner.put(k, b, o)),
    delete: (k, o) => track(inner.delete(k, o)),
    async *list(p, o) {
      inFlight++;
      try {
        yield* inner.list(p, o);
      } finally {
        inFlight--;
      }
    },
    probe: () => inner.probe(),
  };
  const idle = async () => {
    // Twice idle across a timer turn: work a finished call started has had its chance to begin.
    for (let quiet = 0; quiet < 2; ) {
      await new Promise((r) => setTimeout(r, 1));
      quiet = inFlight === 0 ? quiet + 1 : 0;
    }
  };
  return { store, idle };
}

/** Moves `clock` forward `totalMs` in `stepMs` steps, each once the store is idle. */
async function passTime(clock: ManualClock, idle: () => Promise<void>, totalMs: number, stepMs = 50) {
  for (let t = 0; t < totalMs; t += stepMs) {
    await idle();
    await clock.advance(stepMs);
  }
  await idle();
}

/** Every entry in order, read back. */
async function entries(log: StackLog) {
  const head = await log.headSeq();
  const out = [];
  for (let seq = 1; seq <= head; seq++) {
    const e = await log.read(seq);
    assert.ok(e !== undefined, `entry ${seq} exists: the log has no gaps`);
    out.push(e);
  }
  return out;
}

/** The counters committed, in log order. */
async function committed(log: StackLog): Promise<number[]> {
  return (await entries(log)).filter((e) => e.entry.kind === "commit").map((e) => Number(untext(e.payload)));
}

export function stackLogSuite(name: string, makeStore: () => ObjectStore | Promise<ObjectStore>) {
  describe(`stack log on ${name}`, () => {
    test("lock, commits, unlock: one create-only request each, the head state in every entry", async () => {
      const { store, calls } = recordingStore(await makeStore());
      const log = freshLog(store).open();
      assert.equal((await log.head()).seq, 0);
      const lease = await log.acquire({ leaseMs: 60_000, operation: "apply" });
      assert.equal(lease.epoch, 1);
      calls.length = 0;
      const c1 = await lease.commit((seq) => text(`payload of ${seq}`));
      const c2 = await lease.commit((seq) => text(`payload of ${seq}`), 7);
      assert.deepEqual([c1, c2], [2, 3]);
      assert.equal(countCalls(calls, "put"), 2, "one create per commit");
      assert.equal(countCalls(calls, "get", "head", "list"), 0, "a holder knows the head: no reads");
      assert.ok(calls.every((c) => c.opts?.ifNoneMatch === "*" && c.opts.ifMatch === undefined));
      assert.equal(await lease.release(), true);
      const all = await entries(log);
      assert.deepEqual(
        all.map((e) => [
          e.seq,
          e.entry.kind,
          e.entry.lock?.id ?? null,
          e.entry.epoch,
          e.entry.commit,
          e.entry.kinds,
        ]),
        [
          [1, "lock", lease.id, 1, 0, "l"],
          [2, "commit", lease.id, 1, 2, "lc"],
          [3, "commit", lease.id, 1, 3, "lcc"],
          [4, "unlock", null, 0, 3, "lccu"],
        ],
      );
      assert.equal(untext(all[2]?.payload ?? new Uint8Array()), "payload of 3");
      // A commit records the state's entry count when its writer gives one; other entries none.
      assert.deepEqual(
        all.map((e) => e.entry.entries),
        [undefined, undefined, 7, undefined],
      );
      assert.equal(all[0]?.entry.lock?.operation, "apply");
      assert.equal(await log.lockRecord(), undefined);
      // The next holder starts from the head the last one left.
      const again = await log.acquire({ leaseMs: 60_000 });
      assert.equal(again.epoch, 5);
      assert.equal(again.lastCommit, 3);
      assert.equal(await again.commit(() => text("x")), 6);
      await again.release();
    });

    test("a held lock refuses others, naming the holder; the same lock id is the same lock", async () => {
      const store = await makeStore();
      const { open } = freshLog(store);
      const a = await open().acquire({ leaseMs: 60_000, operation: "apply", id: "lock-a" });
      const refused = await open()
        .acquire({ leaseMs: 60_000, wait: false })
        .catch((e: unknown) => e);
      assert.ok(hasErrorCode(refused, "E_LOCKED"), String(refused));
      assert.match(String((refused as Error).message), /operation "apply"/);
      const timedOut = await open()
        .acquire({ leaseMs: 60_000, wait: true, pollMs: 20, timeoutMs: 150 })
        .catch((e: unknown) => e);
      assert.ok(hasErrorCode(timedOut, "E_LOCKED"), String(timedOut));
      assert.match(String((timedOut as Error).message), /timed out/);
      // A retried request for lock-a (its response lost): the lock it already holds, no new entry.
      const log = open();
      const before = await log.headSeq();
      const same = await log.acquire({ leaseMs: 60_000, id: "lock-a", wait: false });
      assert.equal(same.epoch, a.epoch);
      assert.equal(await log.headSeq(), before);
      same.lose("test: one handle is enough");
      assert.equal(await a.release(), true);
    });

    test("a paused holder is taken over after a whole lease unchanged; its next commit is fenced, nothing written", async () => {
      const { store, idle } = trackedStore(await makeStore());
      const clockA = manualClock();
      const clockB = manualClock();
      const { open } = freshLog(store);
      const a = await open(store, clockA).acquire({ leaseMs: 1_000 });
      await a.commit(() => text("1"));
      // A is paused: its clock does not move, so it never renews. B waits a whole lease on its own.
      const waiting = open(store, clockB).acquire({ leaseMs: 1_000, pollMs: 100, wait: true });
      let taken = false;
      void waiting.then(() => {
        taken = true;
      });
      await passTime(clockB, idle, 900);
      assert.equal(taken, false, "not before a whole lease");
      await passTime(clockB, idle, 400);
      assert.equal(taken, true, "taken over once B saw the head unchanged for a lease");
      const b = await waiting;
      assert.equal(b.tookOverFrom?.id, a.id);
      assert.equal(b.epoch, 3);
      assert.equal(b.lastCommit, 2, "the new holder starts from the last commit");
      const stale = await a.commit(() => text("stale")).catch((e: unknown) => e);
      assert.ok(hasErrorCode(stale, "E_FENCED"), String(stale));
      assert.match(String((stale as Error).message), /taken over by/);
      assert.equal(a.lost, true);
      assert.equal(await a.release(), false, "a lost lock releases nothing");
      assert.equal(await b.commit(() => text("2")), 4);
      await b.release();
      assert.deepEqual(await committed(open()), [1, 2], "the stale commit is nowhere in the log");
    });

    test("a live holder renews (or commits) and is never taken over", async () => {
      const { store, idle } = trackedStore(await makeStore());
      const clock = manualClock();
      const { open } = freshLog(store);
      const a = await open(store, clock).acquire({ leaseMs: 1_000 });
      const abort = new AbortController();
      const waiting = open(store, clock)
        .acquire({ leaseMs: 1_000, pollMs: 100, wait: true, signal: abort.signal })
        .catch((e: unknown) => e);
      await passTime(clock, idle, 5_000);
      abort.abort(new Error("test: enough waiting"));
      const refused = await waiting;
      assert.ok(hasErrorCode(refused, "E_LOCKED"), String(refused));
      a.assertHeld();
      const log = open();
      const renewals = (await entries(log)).filter((e) => e.entry.kind === "renew");
      assert.ok(renewals.length >= 10, `renewed through 5 s of a 1 s lease: ${renewals.length}`);
      assert.equal(renewals.at(-1)?.entry.lock?.renewals, renewals.length);
      assert.equal(await a.release(), true);
    });

    test("force-unlock is a break entry: the holder is fenced; with the wrong id it names the holder", async () => {
      const store = await makeStore();
      const { open } = freshLog(store);
      const a = await open().acquire({ leaseMs: 60_000, id: "held-one" });
      const wrong = await open()
        .forceUnlock({ id: "another" })
        .catch((e: unknown) => e);
      assert.ok(hasErrorCode(wrong, "E_LOCKED"), String(wrong));
      const broken = await open().forceUnlock({ id: "held-one" });
      assert.equal(broken?.id, "held-one");
      assert.equal(await open().forceUnlock(), undefined, "nothing left to break");
      const fenced = await a.commit(() => text("late")).catch((e: unknown) => e);
      assert.ok(hasErrorCode(fenced, "E_FENCED"), String(fenced));
      assert.match(String((fenced as Error).message), /force-unlocked/);
      const kinds = (await entries(open())).map((e) => e.entry.kind);
      assert.deepEqual(kinds, ["lock", "break"]);
    });

    test("a lock without a lease is resumed by id from another process, and refused otherwise", async () => {
      const store = await makeStore();
      const { open } = freshLog(store);
      const taken = await open().acquire({ id: "tf-lock", operation: "OperationTypeApply" });
      const resumed = await open().resume("tf-lock");
      assert.equal(await resumed.commit(() => text("from the resumed handle")), 2);
      const other = await open()
        .resume("not-it")
        .catch((e: unknown) => e);
      assert.ok(hasErrorCode(other, "E_LOCKED"), String(other));
      assert.equal(await resumed.release(), true);
      taken.lose("test: released through the resumed handle");
      const gone = await open()
        .resume("tf-lock")
        .catch((e: unknown) => e);
      assert.ok(hasErrorCode(gone, "E_LOCK_LOST"), String(gone));
      const leased = await open().acquire({ leaseMs: 60_000, id: "leased" });
      const refused = await open()
        .resume("leased")
        .catch((e: unknown) => e);
      assert.ok(hasErrorCode(refused, "E_INVALID_ARGUMENT"), String(refused));
      await leased.release();
    });

    test("a writer without the lock commits after the head it read; a lock or a newer entry refuses it", async () => {
      const store = await makeStore();
      const { open } = freshLog(store);
      const a = open();
      const b = open();
      assert.equal((await a.commitAfter(await a.head(), () => text("a1"))).seq, 1);
      // Both read entry 1; the first to write entry 2 wins, the other is told to read again.
      const [seenA, seenB] = [await a.head(), await b.head()];
      assert.equal((await a.commitAfter(seenA, () => text("a2"))).seq, 2);
      const stale = await b.commitAfter(seenB, () => text("b2")).catch((e: unknown) => e);
      assert.ok(hasErrorCode(stale, "E_FENCED"), String(stale));
      assert.equal((await b.commitAfter(await b.head(), () => text("b3"))).seq, 3);
      const lease = await a.acquire({ leaseMs: 60_000, operation: "apply" });
      const locked = await b.commitAfter(await b.head(), () => text("b4")).catch((e: unknown) => e);
      assert.ok(hasErrorCode(locked, "E_LOCKED"), String(locked));
      assert.match((locked as Error).message, /operation "apply"/);
      // A writer that read before the lock was taken is fenced by the lock entry.
      await lease.release();
      const beforeLock = await b.head();
      const again = await a.acquire({ leaseMs: 60_000 });
      const fenced = await b.commitAfter(beforeLock, () => text("late")).catch((e: unknown) => e);
      assert.ok(hasErrorCode(fenced, "E_FENCED"), String(fenced));
      assert.equal(await again.commit(() => text("a7")), 7);
      await again.release();
      const kinds = (await entries(open())).map((e) => `${e.entry.kind}:${untext(e.payload)}`);
      assert.deepEqual(kinds, [
        "commit:a1",
        "commit:a2",
        "commit:b3",
        "lock:",
        "unlock:",
        "lock:",
        "commit:a7",
        "unlock:",
      ]);
    });

    test("an old entry can be removed, the newest never; the head and the commits stay right", async () => {
      const store = await makeStore();
      const { open } = freshLog(store);
      const log = open();
      const lease = await log.acquire({ leaseMs: 60_000 });
      for (let i = 0; i < 4; i++) await lease.commit(() => text(String(i)));
      await lease.release();
      const newest = await log.headSeq();
      const refused = await log.remove(newest).catch((e: unknown) => e);
      assert.ok(hasErrorCode(refused, "E_INVALID_ARGUMENT"), String(refused));
      await log.remove(2);
      await log.remove(3);
      assert.equal(await open().headSeq(), newest);
      assert.deepEqual(
        (await open().commits()).map((c) => c.seq),
        [4, 5],
      );
      const next = await open().acquire({ leaseMs: 60_000 });
      assert.equal(next.epoch, newest + 1, "a new lock follows the newest entry, not a hole");
      await next.release();
    });

    test("6 contenders × 8 rounds of lock → read → commit counter+1 → unlock: every count once, in order", async () => {
      const store = await makeStore();
      const { open } = freshLog(store);
      const rounds = 8;
      const contenders = 6;
      const worker = async () => {
        const log = open();
        let takeovers = 0;
        for (let i = 0; i < rounds; i++) {
          const lease = await log.acquire({ leaseMs: 60_000, pollMs: 5, wait: true });
          if (lease.tookOverFrom !== undefined) takeovers++;
          const last = lease.lastCommit === 0 ? undefined : await log.read(lease.lastCommit);
          const n = last === undefined ? 0 : Number(untext(last.payload));
          await lease.commit(() => text(String(n + 1)));
          assert.equal(await lease.release(), true);
        }
        return takeovers;
      };
      const takeovers = await Promise.all(Array.from({ length: contenders }, worker));
      assert.deepEqual(takeovers, new Array(contenders).fill(0), "nobody took over a live holder");
      const total = rounds * contenders;
      assert.deepEqual(
        await committed(open()),
        Array.from({ length: total }, (_, i) => i + 1),
      );
      assert.equal((await open().head()).seq, 3 * total, "lock, commit and unlock per round: no stray entry");
    });
  });
}
