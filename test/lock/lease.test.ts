// The one lease-lock module, on a manual clock: takeover, renewal and lapse are checked by
// moving time, not by sleeping through leases.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { hasErrorCode, LockedError } from "../../src/errors.js";
import { acquireLease, decodeLeaseRecord, type HeldLease, readLease } from "../../src/lock/lease.js";
import { memoryStore } from "../../src/objectstore/memory.js";
import type { ObjectStore } from "../../src/objectstore/types.js";
import { manualClock } from "../../src/testing/manual-clock.js";
import { interceptStore } from "../../src/testing/store-decorators.js";

const KEY = "f/s/lock";
const LEASE = 30_000;
const text = (o: object) => new TextEncoder().encode(JSON.stringify(o));

/** A lock left by a holder that crashed: nobody renews it. */
async function abandonedLock(store: ObjectStore, extra: object = {}): Promise<void> {
  await store.put(
    KEY,
    text({
      id: "dead",
      user: "ci",
      host: "runner-7",
      pid: 4242,
      operation: "apply",
      since: "2026-01-01T00:00:00Z",
      leaseMs: LEASE,
      renewals: 3,
      ...extra,
    }),
    { ifNoneMatch: "*" },
  );
}

/** Tracks a pending promise without awaiting it. */
function watch<T>(p: Promise<T>): { settled: () => boolean; value: Promise<T> } {
  let done = false;
  p.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  return { settled: () => done, value: p };
}

describe("lease lock on a manual clock", () => {
  test("a waiter takes an abandoned lock over one full lease after it first saw it, not a moment before", async () => {
    const store = memoryStore();
    const clock = manualClock();
    await abandonedLock(store);
    const waiting = watch(
      acquireLease(store, KEY, { subject: "stack f/s", wait: true, leaseMs: LEASE, pollMs: 1000, clock }),
    );
    await clock.advance(LEASE - 1000);
    assert.equal(waiting.settled(), false, "still waiting before the lease has passed on its own clock");
    // Polls come every 500–1500 ms (pollMs ± 50 %), so the first look at or after one full lease
    // is at most 1500 ms past it.
    await clock.advance(2_500);
    assert.equal(waiting.settled(), true);
    const held = await waiting.value;
    assert.equal(held.tookOverFrom?.id, "dead");
    assert.equal(held.tookOverFrom?.user, "ci");
    assert.equal((await readLease(store, KEY))?.record.id, held.id);
    assert.equal(await held.release(), true);
  });

  test("a live holder renews three times per lease and is never taken over", async () => {
    const store = memoryStore();
    const clock = manualClock();
    const holder = await acquireLease(store, KEY, {
      subject: "stack f/s",
      wait: true,
      leaseMs: LEASE,
      clock,
    });
    const abort = new AbortController();
    const waiting = watch(
      acquireLease(store, KEY, {
        subject: "stack f/s",
        wait: true,
        leaseMs: LEASE,
        pollMs: 1000,
        clock,
        signal: abort.signal,
      }),
    );
    await clock.advance(10 * LEASE);
    assert.equal(waiting.settled(), false, "ten leases later the waiter still waits");
    assert.equal((await readLease(store, KEY))?.record.renewals, 30, "renewed every third of a lease");
    holder.assertHeld();
    abort.abort();
    await assert.rejects(
      waiting.value,
      (e: unknown) => e instanceof LockedError && e.holder?.id === holder.id,
    );
    assert.equal(await holder.release(), true);
  });

  test("a holder whose renewals fail loses its lease when it lapses; assertHeld then throws", async () => {
    const inner = memoryStore();
    const clock = manualClock();
    let failRenewals = false;
    const store = interceptStore(inner, (call) => {
      if (failRenewals && call.op === "put" && call.opts?.ifMatch !== undefined)
        throw new Error("injected outage");
      return undefined;
    });
    const holder: HeldLease = await acquireLease(store, KEY, {
      subject: "stack f/s",
      wait: true,
      leaseMs: LEASE,
      clock,
    });
    failRenewals = true;
    await clock.advance(LEASE - 1);
    holder.assertHeld();
    assert.equal(holder.lost, false);
    await clock.advance(2);
    assert.throws(
      () => holder.assertHeld(),
      (e: unknown) => hasErrorCode(e, "E_LOCK_LOST"),
    );
    assert.equal(holder.signal.aborted, true);
    assert.equal(await holder.release(), false);
  });

  test("without a lease (record locks) nobody takes over, however long; a taker fails at once naming the holder", async () => {
    const store = memoryStore();
    const clock = manualClock();
    const held = await acquireLease(store, KEY, {
      subject: 'resource "db"',
      wait: false,
      operation: "apply",
      clock,
    });
    await clock.advance(365 * 24 * 3_600_000);
    held.assertHeld();
    await assert.rejects(
      acquireLease(store, KEY, { subject: 'resource "db"', wait: false, clock }),
      (e: unknown) => {
        assert.ok(e instanceof LockedError);
        assert.deepEqual(e.holder, held.holder);
        assert.match(
          e.message,
          /resource "db" is locked by .+@.+ \(pid \d+, operation "apply"\) since 2026-01-01T00:00:00\.000Z/,
        );
        return true;
      },
    );
    assert.equal(await held.release(), true);
  });

  test("the holder has separate fields; locks written by earlier versions still read", () => {
    const stackLock = decodeLeaseRecord(
      KEY,
      text({
        id: "a",
        who: "root@vm",
        host: "vm",
        pid: 1,
        operation: "push",
        created: "2026-05-01T00:00:00Z",
        leaseMs: 30000,
        renewals: 2,
      }),
    );
    assert.deepEqual(
      { user: stackLock.user, host: stackLock.host, since: stackLock.since, leaseMs: stackLock.leaseMs },
      { user: "root", host: "vm", since: "2026-05-01T00:00:00Z", leaseMs: 30000 },
    );
    const recordLock = decodeLeaseRecord(
      KEY,
      text({
        id: "b",
        who: "deploy",
        host: "ci-3",
        pid: 2,
        operation: "apply",
        created: "2026-05-02T00:00:00Z",
      }),
    );
    assert.equal(recordLock.user, "deploy");
    assert.equal(recordLock.leaseMs, undefined);
    assert.throws(
      () => decodeLeaseRecord(KEY, text({ who: "x" })),
      (e: unknown) => hasErrorCode(e, "E_CORRUPT"),
    );
  });
});
