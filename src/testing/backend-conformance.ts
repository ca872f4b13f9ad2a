import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { type Backend, type BackendOptions, createBackend, type HeadMode } from "../backend/backend.js";
import { backendInternals } from "../backend/internals.js";
import { type StackLayout, stackLayout } from "../backend/layout.js";
import { StackLog } from "../backend/stack-log.js";
import { keyEncrypter } from "../crypto/key.js";
import { keyring } from "../crypto/keyring.js";
import { noopEncrypter } from "../crypto/noop.js";
import type { Encrypter } from "../crypto/types.js";
import { hasErrorCode, type LockedError } from "../errors.js";
import { sleep } from "../internal/backoff.js";
import { systemClock } from "../lock/clock.js";
import { retryingStore } from "../objectstore/retrying.js";
import { isStoreError, type ObjectStore, StoreError } from "../objectstore/types.js";
import { newSnapshot } from "../snapshot/codec.js";
import type { Snapshot } from "../snapshot/types.js";
import { rejectsWithCode } from "./assertions.js";
import {
  type ConformanceOptions,
  type ConformanceTest,
  type MakeStore,
  suiteTitle,
  withGroups,
} from "./conformance-api.js";
import {
  ignoringIfMatchStore,
  ignoringPreconditionsStore,
  interceptStore,
  recordingStore,
} from "./store-decorators.js";

export interface BackendConformanceOptions extends ConformanceOptions {
  /** The encrypter every backend uses. Default `noopEncrypter()`. */
  makeEncrypter?: () => Encrypter;
  /** Lease for the lease/takeover tests. Default 400 ms; slow remote stores may want more. */
  leaseMs?: number;
  /** Poll interval while waiting for a lock. Default 50 ms. */
  pollMs?: number;
  /** The storage format the suite's backends write (`BackendOptions.format`). Default 1. */
  format?: 1 | 2;
  /**
   * The head the suite's stacks get (`BackendOptions.head`). Default: the backend's (`"log"`). Where the two
   * differ by design (a log has no revision off the line, its digests live in its entries), a
   * test checks what that head promises instead.
   */
  head?: HeadMode;
}

const FACTORY = "factory";

function randomPrefix(): string {
  return `conformance-${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;
}

function snapshotFor(stack: string, addresses: string[] = ["aws.bucket.logs"]): Snapshot {
  const s = newSnapshot({ name: FACTORY, version: "1.0.0", contentRevision: "abc123" }, stack);
  s.entries = addresses.map((address) => ({
    address,
    type: "leaf" as const,
    kind: "aws:s3:Bucket",
    inputs: { name: address },
  }));
  return s;
}

const expectCode = rejectsWithCode;

/** A stack's log, read and written around the backend (to damage it, or to see its entries). */
function logOf(store: ObjectStore, layout: StackLayout): StackLog {
  return new StackLog(store, layout.logPrefix, layout.logHint, { subject: "stack under test" });
}

/**
 * The Backend contract, run on any ObjectStore: unobin's backend checks and statekeeper's lock,
 * lease, fencing, integrity and name guarantees.
 */
export function backendConformance(
  test: ConformanceTest,
  makeStore: MakeStore,
  options: BackendConformanceOptions = {},
): void {
  const t = withGroups(test);
  const leaseMs = options.leaseMs ?? 400;
  const pollMs = options.pollMs ?? 50;
  const encrypter = options.makeEncrypter ?? noopEncrypter;
  const isLog = (options.head ?? "log") === "log";
  const headOpt: Partial<BackendOptions> = options.head === undefined ? {} : { head: options.head };

  async function setup(stack = "stack", extra: Partial<BackendOptions> = {}) {
    const store = await makeStore();
    const prefix = randomPrefix();
    const make = (overrides: Partial<BackendOptions> = {}, on: ObjectStore = store): Backend =>
      createBackend(on, {
        prefix,
        factory: FACTORY,
        stack,
        encrypter: encrypter(),
        lockDefaults: { leaseMs, pollMs },
        ...(options.format === undefined ? {} : { format: options.format }),
        ...headOpt,
        ...extra,
        ...overrides,
      });
    const layout = stackLayout(`${prefix}/`, FACTORY, stack);
    /** The object a revision is stored in: its snapshot object, or its commit entry in the log. */
    const revKey = (rev: string): string =>
      isLog ? logOf(store, layout).key(Number(rev)) : layout.snapshot(rev);
    /** True for a write to the objects that hold the lock and the head. */
    const isHeadWrite = (key: string): boolean =>
      isLog ? key.startsWith(layout.logPrefix) : key === layout.current || key === layout.lock;
    return { store, prefix, make, layout, revKey, isHeadWrite, backend: make() };
  }

  t.describe(suiteTitle("Backend conformance", options), () => {
    t.test("an empty stack has no current (current and currentRev)", async () => {
      const { backend } = await setup();
      await expectCode(backend.current(), "E_NO_CURRENT");
      await expectCode(backend.currentRev(), "E_NO_CURRENT");
      assert.deepEqual(await backend.list(), []);
    });

    if (isLog)
      t.test(
        "a log has no revision off the line: write is refused; setCurrent commits an older one",
        async () => {
          const { backend, make } = await setup();
          await expectCode(backend.write(snapshotFor("stack", ["a"])), "E_INVALID_ARGUMENT");
          assert.deepEqual(await backend.list(), [], "the refused write stored nothing");
          const rev1 = await backend.commit(snapshotFor("stack", ["a"]));
          const rev2 = await backend.commit(snapshotFor("stack", ["a", "b"]));
          assert.equal(await make().currentRev(), rev2);
          await backend.setCurrent(rev1);
          const rev3 = await make().currentRev();
          assert.deepEqual(await make().list(), [rev1, rev2, rev3], "a rollback is a new revision");
          assert.deepEqual(
            (await make().current()).entries.map((e) => e.address),
            ["a"],
          );
          assert.equal((await make().readRevision(rev3)).parentRevision, rev2);
          await backend.setCurrent(rev3);
          assert.deepEqual(
            await make().list(),
            [rev1, rev2, rev3],
            "setCurrent to the current rev writes nothing",
          );
        },
      );
    else
      t.test("write never moves current; setCurrent does; commit does both", async () => {
        const { backend } = await setup();
        const rev1 = await backend.write(snapshotFor("stack", ["a"]));
        await expectCode(backend.currentRev(), "E_NO_CURRENT");
        await backend.setCurrent(rev1);
        assert.equal(await backend.currentRev(), rev1);
        const rev2 = await backend.write(snapshotFor("stack", ["a", "b"]));
        assert.equal(await backend.currentRev(), rev1);
        const rev3 = await backend.commit(snapshotFor("stack", ["c"]));
        assert.equal(await backend.currentRev(), rev3);
        assert.deepEqual(
          (await backend.current()).entries.map((e) => e.address),
          ["c"],
        );
        assert.deepEqual(
          (await backend.get(rev2)).entries.map((e) => e.address),
          ["a", "b"],
        );
        assert.deepEqual(await backend.list(), [rev1, rev2, rev3]);
      });

    t.test(
      "setCurrent to an unknown rev fails and changes nothing; get of an unknown rev is E_NOT_FOUND",
      async () => {
        const { backend } = await setup();
        const rev = await backend.commit(snapshotFor("stack"));
        await expectCode(backend.setCurrent("2020-01-01T00:00:00Z"), "E_NOT_FOUND");
        assert.equal(await backend.currentRev(), rev);
        await expectCode(backend.get("2020-01-01T00:00:00Z"), "E_NOT_FOUND");
      },
    );

    t.test("delete: a missing rev is fine, the current rev is refused, others go", async () => {
      const { backend } = await setup();
      const old = await backend.commit(snapshotFor("stack", ["a"]));
      const cur = await backend.commit(snapshotFor("stack", ["b"]));
      await backend.delete("2020-01-01T00:00:00Z");
      await expectCode(backend.delete(cur), "E_INVALID_ARGUMENT");
      await backend.delete(old);
      assert.deepEqual(await backend.list(), [cur]);
    });

    if (isLog)
      t.test("a log's revisions are their entries' numbers, listed in numeric order", async () => {
        const frozen = 1_778_000_000_123_456_789n;
        const { backend } = await setup("stack", { clock: () => frozen });
        const revs: string[] = [];
        for (let i = 0; i < 12; i++) revs.push(await backend.commit(snapshotFor("stack")));
        assert.deepEqual(
          revs,
          revs.map((_, i) => String(i + 1)),
          "a frozen clock does not matter",
        );
        const lock = await backend.lock();
        const locked = await backend.commit(snapshotFor("stack"));
        await lock.unlock();
        assert.equal(locked, "14", "the lock entry took 13");
        assert.deepEqual(await backend.list(), [...revs, locked]);
      });
    else
      t.test(
        "a frozen clock yields T, T_1 … T_4, listed in that order; 100 collisions fail clearly",
        async () => {
          const frozen = 1_778_000_000_123_456_789n;
          const { backend } = await setup("stack", { clock: () => frozen });
          const revs: string[] = [];
          for (let i = 0; i < 5; i++) revs.push(await backend.write(snapshotFor("stack")));
          const base = revs[0]!;
          assert.match(base, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d+Z$/);
          assert.deepEqual(revs, [base, `${base}_1`, `${base}_2`, `${base}_3`, `${base}_4`]);
          assert.deepEqual(await backend.list(), revs);
          for (let i = 5; i < 100; i++) await backend.write(snapshotFor("stack"));
          const err = await expectCode(backend.write(snapshotFor("stack")), "E_CONTENDED");
          assert.match(
            String((err as Error).message),
            /could not allocate fresh revision after 100 attempts/,
          );
        },
      );

    t.test("sibling stacks are isolated", async () => {
      const store = await makeStore();
      const prefix = randomPrefix();
      const a = createBackend(store, {
        prefix,
        factory: FACTORY,
        stack: "a",
        encrypter: encrypter(),
        ...headOpt,
      });
      const ab = createBackend(store, {
        prefix,
        factory: FACTORY,
        stack: "ab",
        encrypter: encrypter(),
        ...headOpt,
      });
      const revA = await a.commit(snapshotFor("a"));
      await expectCode(ab.current(), "E_NO_CURRENT");
      assert.deepEqual(await ab.list(), []);
      const lock = await a.lock({ operation: "apply" });
      const lockB = await ab.lock({ timeoutMs: 2000 });
      await lockB.unlock();
      await lock.unlock();
      assert.equal(await a.currentRev(), revA);
    });

    t.test("a snapshot for another stack is refused by write", async () => {
      const { backend } = await setup();
      await expectCode(backend.write(snapshotFor("other")), "E_INVALID_SNAPSHOT");
    });

    t.test("rewriting identical content makes a new rev and moves current", async () => {
      const { backend } = await setup();
      const r1 = await backend.commit(snapshotFor("stack"));
      const r2 = await backend.commit(snapshotFor("stack"));
      assert.notEqual(r1, r2);
      assert.equal(await backend.currentRev(), r2);
    });

    t.test("a second lock waits while the first is held and gets it after unlock; ids differ", async () => {
      const { make } = await setup();
      const a = make();
      const b = make();
      // A long lease: this is about waiting, and a loaded machine must not let it lapse meanwhile.
      const la = await a.lock({ operation: "apply", leaseMs: 60_000 });
      const err = (await expectCode(
        b.lock({ timeoutMs: 3 * pollMs, operation: "refresh" }),
        "E_LOCKED",
      )) as LockedError;
      assert.equal(err.holder?.id, la.id);
      assert.equal(err.holder?.operation, "apply");
      assert.equal(err.holder?.pid, process.pid);
      assert.match(err.message, /apply/);
      assert.equal((err.cause as Error).name, "TimeoutError", "the timeout stays detectable as the cause");
      let bHeld = false;
      const waiting = b.lock({ timeoutMs: 20_000 }).then((l) => {
        bHeld = true;
        return l;
      });
      await sleep(4 * pollMs);
      assert.equal(bHeld, false, "b must wait while a holds the lock");
      assert.equal(await la.unlock(), true);
      const lb = await waiting;
      assert.notEqual(lb.id, la.id);
      assert.equal((await b.lockInfo())?.id, lb.id);
      await lb.unlock();
      assert.equal(await b.lockInfo(), undefined);
    });

    t.test("an aborted wait names the holder and keeps the abort reason as cause", async () => {
      const { make } = await setup();
      const la = await make().lock({ operation: "apply" });
      const controller = new AbortController();
      const reason = new Error("operator pressed ctrl-c");
      setTimeout(() => controller.abort(reason), 3 * pollMs);
      const err = (await expectCode(make().lock({ signal: controller.signal }), "E_LOCKED")) as LockedError;
      assert.equal(err.cause, reason);
      assert.equal(err.holder?.id, la.id);
      await la.unlock();
    });

    t.test("force-unlock clears a held lock, returns the holder, and succeeds with no lock", async () => {
      const { make } = await setup();
      const a = make();
      const la = await a.lock({ operation: "apply" });
      const holder = await make().forceUnlock();
      assert.equal(holder?.id, la.id);
      assert.equal(await a.lockInfo(), undefined);
      assert.equal(await make().forceUnlock(), undefined);
      const lb = await make().lock({ timeoutMs: 2000 });
      assert.equal(await la.unlock(), false, "a stale handle must not remove the new holder's lock");
      assert.equal((await a.lockInfo())?.id, lb.id);
      await lb.unlock();
    });

    t.test("racing lock() across backends: never two holders at once", async () => {
      const { make } = await setup();
      let holders = 0;
      let maxHolders = 0;
      let acquisitions = 0;
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          const b = make();
          for (let round = 0; round < 5; round++) {
            const l = await b.lock({ timeoutMs: 30_000 });
            holders++;
            maxHolders = Math.max(maxHolders, holders);
            acquisitions++;
            await sleep(2);
            holders--;
            assert.equal(await l.unlock(), true);
          }
        }),
      );
      assert.equal(maxHolders, 1);
      assert.equal(acquisitions, 20);
    });

    t.test("a lost response to the lock create is recognised as ours, and unlock removes it", async () => {
      const { store, make, layout } = await setup();
      let lose = true;
      // The response is lost below the store's retry layer, where a network would lose it.
      const flaky = retryingStore(
        interceptStore(store, (call) => {
          const lockKey = isLog ? logOf(store, layout).key(1) : layout.lock;
          if (lose && call.op === "put" && call.key === lockKey && call.opts?.ifNoneMatch === "*") {
            lose = false;
            return "lose-response";
          }
          return undefined;
        }),
        { baseDelayMs: 1 },
      );
      const b = make({}, flaky);
      const l = await b.lock({ timeoutMs: 5000 });
      assert.equal((await b.lockInfo())?.id, l.id);
      assert.equal(await l.unlock(), true);
      assert.equal(await b.lockInfo(), undefined);
    });

    if (!isLog) {
      /**
       * The store under a retry layer, where `during` runs when a compare-and-swap of `current`
       * is sent while armed: after it was applied ("lose": the answer is then lost) or instead
       * of it ("conflict": refused with an S3 409, whose outcome a client cannot know).
       */
      const lossy = (
        store: ObjectStore,
        layout: StackLayout,
        fault: "lose" | "conflict",
        during: () => Promise<unknown>,
      ) => {
        let armed = false;
        const inner: ObjectStore = {
          ...store,
          async put(key, body, opts) {
            if (!armed || key !== layout.current || opts?.ifMatch === undefined)
              return store.put(key, body, opts);
            armed = false;
            if (fault === "lose") await store.put(key, body, opts);
            await during();
            throw new StoreError(
              fault === "lose" ? "UNAVAILABLE" : "CONFLICT",
              `injected: ${fault} on ${key}`,
              {
                key,
                outcomeUnknown: true,
              },
            );
          },
        };
        return { store: retryingStore(inner, { baseDelayMs: 1 }), arm: () => (armed = true) };
      };

      t.test(
        "a commit whose answer was lost stands when a takeover fenced current right after it landed",
        async () => {
          const { store, make, layout } = await setup();
          await make().commit(snapshotFor("stack", ["v1"]));
          const net = lossy(store, layout, "lose", async () => {
            await make().forceUnlock();
            await (await make().lock({ timeoutMs: 2000 })).unlock();
          });
          const holder = make({}, net.store);
          const held = await holder.lock({ timeoutMs: 2000 });
          net.arm();
          // The store reports the retry's failed condition; current names this commit under a
          // newer fence: it landed, so it is not refused, and the holder knows its lock is gone.
          const rev = await holder.commit(snapshotFor("stack", ["v1", "v2"]));
          assert.equal(await make().currentRev(), rev);
          assert.equal(held.lost, true, "a holder whose fence was replaced has lost its lock");
          await expectCode(holder.commit(snapshotFor("stack", ["v1", "v2", "v3"])), "E_LOCK_LOST");
          assert.equal(await make().currentRev(), rev);
        },
      );

      t.test("a commit whose answer was lost stands when another writer built on it at once", async () => {
        const { store, make, layout } = await setup();
        await make().commit(snapshotFor("stack", ["v1"]));
        let next = "";
        const net = lossy(store, layout, "lose", async () => {
          next = await make().commit(snapshotFor("stack", ["v1", "v2", "v3"]));
        });
        const writer = make({}, net.store);
        await writer.currentRev();
        net.arm();
        const rev = await writer.commit(snapshotFor("stack", ["v1", "v2"]));
        assert.equal(await make().currentRev(), next);
        assert.equal(
          (await make().readRevision(next)).parentRevision,
          rev,
          "the later commit built on this one",
        );
      });

      t.test(
        "a commit refused with an unknown outcome while another writer won is refused (E_FENCED)",
        async () => {
          const { store, make, layout } = await setup();
          const base = await make().commit(snapshotFor("stack", ["v1"]));
          let winner = "";
          const net = lossy(store, layout, "conflict", async () => {
            winner = await make().commit(snapshotFor("stack", ["v1", "w"]));
          });
          const writer = make({}, net.store);
          assert.equal(await writer.currentRev(), base);
          net.arm();
          await expectCode(writer.commit(snapshotFor("stack", ["v1", "v2"])), "E_FENCED");
          assert.equal(await make().currentRev(), winner);
        },
      );
    }

    if (isLog)
      t.test(
        "an unparseable log entry at the head is an error: never locked, nothing written on it",
        async () => {
          const { store, make, layout } = await setup();
          const rev = await make().commit(snapshotFor("stack", ["v1"]));
          await store.put(logOf(store, layout).key(2), new TextEncoder().encode("{not json"));
          await expectCode(make().lock({ timeoutMs: 1000 }), "E_CORRUPT");
          await expectCode(make().commit(snapshotFor("stack", ["v2"])), "E_CORRUPT");
          await expectCode(make().current(), "E_CORRUPT");
          await store.delete(logOf(store, layout).key(2));
          assert.equal(await make().currentRev(), rev, "removing it repairs the log");
          const l = await make().lock({ timeoutMs: 1000 });
          await l.unlock();
        },
      );
    else
      t.test("an unparseable lock object is an error, never acquired", async () => {
        const { store, make, layout } = await setup();
        await store.put(layout.lock, new TextEncoder().encode("{not json"));
        await expectCode(make().lock({ timeoutMs: 1000 }), "E_CORRUPT");
        assert.ok((await make().forceUnlock()) === undefined);
        const l = await make().lock({ timeoutMs: 1000 });
        await l.unlock();
      });

    t.test(
      "a lease that is not renewed is taken over by exactly one waiter; the old handle is lost and fenced",
      async () => {
        const { store, make, isHeadWrite } = await setup();
        await make().commit(snapshotFor("stack", ["before"]));
        // The holder's renewals fail: from the waiters' side it looks crashed.
        let renewalsFail = false;
        const holderStore = interceptStore(store, (call) => {
          if (renewalsFail && call.op === "put" && isHeadWrite(call.key))
            throw new Error("injected renewal failure");
          return undefined;
        });
        const a = make({}, holderStore);
        const la = await a.lock({ operation: "apply" });
        renewalsFail = true;
        await a.current();
        const waiters = Array.from({ length: 3 }, () => make());
        // The waiters take a long lease: once one has taken over, a loaded machine delaying its
        // renewals must not let a second waiter take over from it within the others' timeout.
        const winners = await Promise.allSettled(
          waiters.map((w) => w.lock({ timeoutMs: 3 * leaseMs + 2000, leaseMs: 60_000 })),
        );
        const won = winners.filter((r) => r.status === "fulfilled");
        // Exactly one waiter takes over; it holds and renews, so the others time out.
        assert.equal(won.length, 1);
        const first = won[0] as PromiseFulfilledResult<Awaited<ReturnType<Backend["lock"]>>>;
        assert.equal(first.value.tookOverFrom?.id, la.id);
        assert.equal(la.lost, true);
        await expectCode(a.commit(snapshotFor("stack", ["stale"])), "E_LOCK_LOST");
        assert.equal(await la.unlock(), false);
        for (const r of won)
          await (r as PromiseFulfilledResult<Awaited<ReturnType<Backend["lock"]>>>).value.unlock();
        assert.deepEqual(
          (await make().current()).entries.map((e) => e.address),
          ["before"],
        );
      },
    );

    if (isLog)
      t.test("a live holder with a skewed wall clock is never taken over early", async () => {
        const { store, make } = await setup();
        // A holder whose wall clock is an hour behind (it dates its entries by it), renewing
        // faithfully with a lease longer than the waiter's patience; then it crashes (its writes fail).
        let crashed = false;
        const holderStore = interceptStore(store, (call) => {
          if (crashed && call.op === "put") throw new Error("the holder crashed");
          return undefined;
        });
        const skewed = { ...systemClock, now: () => new Date(Date.now() - 3_600_000) };
        const held = await make({ lockClock: skewed }, holderStore).lock({
          operation: "apply",
          leaseMs: 2 * leaseMs,
        });
        const err = (await expectCode(make().lock({ timeoutMs: 1.5 * leaseMs }), "E_LOCKED")) as LockedError;
        assert.equal(err.holder?.id, held.id);
        assert.equal(held.lost, false);
        crashed = true;
        const l = await make().lock({ timeoutMs: 4 * leaseMs + 2000 });
        assert.equal(l.tookOverFrom?.id, held.id);
        await l.unlock();
      });
    else
      t.test("a live holder with a skewed wall clock is never taken over early", async () => {
        const { store, make, layout } = await setup();
        // A holder whose clock is an hour behind, renewing faithfully. Its lease is longer than the
        // waiter's patience, so a loaded store delaying a renewal cannot make the takeover legitimate;
        // an implementation that trusted the holder's clock would still take over at once.
        const body = (n: number, lease = 4 * leaseMs) =>
          new TextEncoder().encode(
            JSON.stringify({
              id: "skewed-holder",
              who: "ci@elsewhere",
              host: "elsewhere",
              pid: 1,
              operation: "apply",
              created: new Date(Date.now() - 3_600_000).toISOString(),
              leaseMs: lease,
              renewals: n,
            }),
          );
        let { etag } = await store.put(layout.lock, body(0), { ifNoneMatch: "*" });
        let renewing = true;
        let renewals = 0;
        /**
         * One renewal. A failed precondition fails the test only when the lock is no longer this
         * holder's — a takeover, what the test forbids. Still this holder's, the refusal was about a
         * renewal of ours (twice in full runs on a loaded RGW, a renewal was refused and the lock read
         * back still held the one before, under this id): the next renewal goes against what is there.
         */
        const renew = async (bytes: Uint8Array) => {
          try {
            ({ etag } = await store.put(layout.lock, bytes, { ifMatch: etag }));
          } catch (e) {
            const now = isStoreError(e, "PRECONDITION_FAILED") ? await store.get(layout.lock) : undefined;
            const holder =
              now === undefined
                ? undefined
                : (JSON.parse(new TextDecoder().decode(now.body)) as { id?: string }).id;
            if (now === undefined || holder !== "skewed-holder")
              throw new Error(`the skewed holder's lock was taken: the lock is now ${holder ?? "gone"}`, {
                cause: e,
              });
            etag = now.etag;
          }
        };
        const renewer = (async () => {
          while (renewing) {
            await sleep(leaseMs / 4);
            await renew(body(++renewals));
          }
        })();
        renewer.catch(() => {}); // awaited below; a failing test must not leave it unhandled
        try {
          const err = (await expectCode(make().lock({ timeoutMs: 3 * leaseMs }), "E_LOCKED")) as LockedError;
          assert.equal(err.holder?.id, "skewed-holder");
        } finally {
          renewing = false; // a failing test must not leave the renewer running (the run would never end)
        }
        await renewer;
        // Its last renewal shortens the lease; once it stops renewing, the waiter takes over after it.
        await renew(body(renewals + 1, leaseMs));
        const l = await make().lock({ timeoutMs: 4 * leaseMs + 2000 });
        assert.equal(l.tookOverFrom?.id, "skewed-holder");
        await l.unlock();
      });

    t.test(
      "fencing: a holder whose lock was force-removed cannot commit over the new holder's state",
      async () => {
        const { make } = await setup();
        const a = make();
        const b = make();
        await a.commit(snapshotFor("stack", ["v1"]));
        const la = await a.lock({ operation: "apply", leaseMs: 60_000 });
        await a.current();
        await make().forceUnlock();
        const lb = await b.lock({ timeoutMs: 2000 });
        const revB = await b.commit(snapshotFor("stack", ["from-b"]));
        await lb.unlock();
        await expectCode(a.commit(snapshotFor("stack", ["stale-from-a"])), "E_FENCED");
        assert.equal(await make().currentRev(), revB);
        assert.deepEqual(
          (await make().current()).entries.map((e) => e.address),
          ["from-b"],
        );
        assert.equal(await la.unlock(), false);
      },
    );

    t.test(
      "the takeover fences: a commit delayed past its lease cannot land after a new holder took over",
      async () => {
        const { store, make, layout, isHeadWrite } = await setup();
        await make().commit(snapshotFor("stack", ["v1"]));
        // A's writes to `lock` and `current` (or to the log) stall (a network stall, a GC or VM pause) after it
        // passed its lease check; B takes the lock over and reads state; then A's writes arrive.
        let stalled = false;
        let release = () => {};
        const gate = new Promise<void>((resolve) => {
          release = resolve;
        });
        let reachedCurrent = () => {};
        const aAtCurrent = new Promise<void>((resolve) => {
          reachedCurrent = resolve;
        });
        const stalling = interceptStore(store, async (call) => {
          if (!stalled || call.op !== "put" || !isHeadWrite(call.key)) return undefined;
          if (isLog || call.key === layout.current) reachedCurrent();
          await gate;
          return undefined;
        });
        const a = make({}, stalling);
        const la = await a.lock({ operation: "apply" });
        await a.current();
        stalled = true;
        const staleCommit = a.commit(snapshotFor("stack", ["stale-from-a"]));
        staleCommit.catch(() => {});
        // A must get as far as writing `current`. Should it stop short (a machine so slow that A's
        // own lease check fails first), say so instead of waiting for ever on the gate.
        await Promise.race([
          aAtCurrent,
          staleCommit.then(
            () => assert.fail("A's commit finished without writing current"),
            (e: unknown) => {
              release();
              assert.fail(
                `A's commit stopped before writing current (too slow for a ${leaseMs} ms lease?): ${e}`,
              );
            },
          ),
        ]);
        const b = make();
        const lb = await b.lock({ operation: "apply", timeoutMs: 4 * leaseMs + 2000 });
        assert.equal(lb.tookOverFrom?.id, la.id);
        assert.deepEqual(
          (await b.current()).entries.map((e) => e.address),
          ["v1"],
        );
        release();
        // In a log, the stalled write may be a renewal queued before the commit: the lease is
        // then lost first. Either way nothing of A lands after the takeover.
        const stale = await staleCommit.then(
          () => assert.fail("a stale commit landed after the takeover"),
          (e: unknown) => e,
        );
        assert.ok(
          hasErrorCode(stale, "E_FENCED", ...(isLog ? (["E_LOCK_LOST"] as const) : [])),
          String(stale),
        );
        assert.equal(la.lost, true, "a holder fenced out knows its lock is lost");
        const revB = await b.commit(snapshotFor("stack", ["from-b"]));
        assert.equal(await lb.unlock(), true);
        assert.equal(await make().currentRev(), revB);
        assert.equal(await la.unlock(), false);
      },
    );

    if (isLog)
      t.test(
        "every lock is an entry whose number is its fence epoch; the head keeps the current rev",
        async () => {
          const { store, make, layout } = await setup();
          const log = logOf(store, layout);
          const l1 = await make().lock();
          const first = await log.head();
          assert.deepEqual(
            [first.seq, first.entry.kind, first.entry.epoch, first.entry.lock?.id],
            [1, "lock", 1, l1.id],
          );
          assert.equal(first.entry.commit, 0, "a locked stack without commits still has no current");
          await expectCode(make().current(), "E_NO_CURRENT");
          await l1.unlock();
          const rev = await make().commit(snapshotFor("stack", ["v1"]));
          const l2 = await make().lock();
          const second = await log.head();
          assert.deepEqual(
            [second.entry.kind, second.entry.epoch, second.entry.lock?.id],
            ["lock", second.seq, l2.id],
          );
          assert.ok(second.seq > first.seq);
          assert.equal(String(second.entry.commit), rev);
          assert.equal(await make().currentRev(), rev);
          await l2.unlock();
        },
      );
    else
      t.test("every lock raises the fence epoch in current, keeping the pointer", async () => {
        const { store, make, layout } = await setup();
        const fenceOf = async () => {
          const got = await store.get(layout.current);
          return got === undefined ? undefined : JSON.parse(new TextDecoder().decode(got.body));
        };
        const l1 = await make().lock();
        const first = await fenceOf();
        assert.equal(first?.fence?.epoch, 1);
        assert.equal(first?.fence?.lock, l1.id);
        assert.equal(first?.rev, undefined, "a fenced stack without commits still has no current");
        await expectCode(make().current(), "E_NO_CURRENT");
        await l1.unlock();
        const rev = await make().commit(snapshotFor("stack", ["v1"]));
        const l2 = await make().lock();
        const second = await fenceOf();
        assert.equal(second?.fence?.epoch, 2);
        assert.equal(second?.fence?.lock, l2.id);
        assert.equal(second?.rev, rev);
        assert.equal(await make().currentRev(), rev);
        await l2.unlock();
      });

    // A log's counterpart is "an unparseable log entry at the head is an error…" above.
    if (!isLog)
      t.test(
        "an unreadable current pointer is kept by the fence and refused until a deliberate repair",
        async () => {
          const { store, make, layout } = await setup();
          await make().commit(snapshotFor("stack", ["v1"]));
          await store.put(layout.current, new TextEncoder().encode("garbage, not a pointer"));
          const b = make();
          const lock = await b.lock();
          await expectCode(b.current(), "E_CORRUPT");
          await expectCode(b.commit(snapshotFor("stack", ["v2"])), "E_CORRUPT");
          const kept = JSON.parse(new TextDecoder().decode((await store.get(layout.current))!.body));
          assert.equal(Buffer.from(kept.unreadable, "base64").toString(), "garbage, not a pointer");
          const repaired = await b.commit(snapshotFor("stack", ["v2"]), { replaceUnreadableCurrent: true });
          await lock.unlock();
          assert.equal(await make().currentRev(), repaired);
        },
      );

    t.test(
      "a commit whose key cannot open the current revision is refused, naming that key; nothing is written",
      async () => {
        const { make } = await setup();
        const k1 = keyEncrypter({ key: randomBytes(32) });
        const k2 = keyEncrypter({ key: randomBytes(32) });
        const owner = make({ encrypter: k1 });
        const rev = await owner.commit(snapshotFor("stack", ["secret"]));
        const before = await owner.list();
        for (const other of [noopEncrypter(), k2]) {
          const b = make({ encrypter: other });
          const err = (await expectCode(b.commit(snapshotFor("stack", ["plain"])), "E_DECRYPT")) as Error;
          assert.ok(err.message.includes(k1.keyId), `the error names the sealing key: ${err.message}`);
          assert.ok(err.message.includes("rekey"), err.message);
          if (!isLog) await expectCode(b.write(snapshotFor("stack", ["plain"])), "E_DECRYPT");
          const lock = await b.lock();
          await expectCode(b.commit(snapshotFor("stack", ["plain"])), "E_DECRYPT");
          await lock.unlock();
        }
        assert.deepEqual(await owner.list(), before, "no revision was written");
        assert.equal(await owner.currentRev(), rev);
        // Rotation: a keyring that still opens the current revision commits with its primary key.
        const rotated = await make({ encrypter: keyring(k2, k1) }).commit(snapshotFor("stack", ["rotated"]));
        assert.deepEqual(
          (await make({ encrypter: k2 }).current()).entries.map((e) => e.address),
          ["rotated"],
        );
        // A deliberate change is possible, and says so.
        const forced = await make({ encrypter: k1 }).commit(snapshotFor("stack", ["forced"]), {
          replaceUnreadableCurrent: true,
        });
        assert.notEqual(forced, rotated);
        assert.equal(await owner.currentRev(), forced);
      },
    );

    t.test(
      isLog
        ? "a log entry verifies its payload's digest; nothing is committed on top of a current that fails it"
        : "reads verify the digest in current; nothing is committed on top of a current that fails it",
      async () => {
        const { store, make, layout, revKey } = await setup();
        const b = make();
        const old = await b.commit(snapshotFor("stack", ["old"]));
        const rev = await b.commit(snapshotFor("stack", ["good"]));
        // In a log, the head is then a release entry naming the commit, not the commit itself.
        if (isLog) await (await b.lock()).unlock();
        const key = revKey(rev);
        const good = (await store.get(key))!.body;
        const pointer = isLog ? undefined : (await store.get(layout.current))!.body;
        const text = (bytes: Uint8Array) => JSON.parse(new TextDecoder().decode(bytes));
        if (pointer === undefined) {
          // The digest is in the entry's header: a changed payload no longer matches it.
          const flipped = Uint8Array.from(good);
          flipped[flipped.byteLength - 3]! ^= 0x01;
          await store.put(key, flipped);
        } else
          await store.put(
            layout.current,
            new TextEncoder().encode(JSON.stringify({ ...text(pointer), sha256: "0".repeat(64) })),
          );
        const reader = make();
        await expectCode(reader.get(rev), "E_CORRUPT");
        await expectCode(reader.current(), "E_CORRUPT");
        await expectCode(reader.readRevision(rev), "E_CORRUPT");
        assert.deepEqual(
          (await reader.get(old)).entries.map((e) => e.address),
          ["old"],
          "other revisions still read",
        );
        const revs = await reader.list();
        await expectCode(reader.commit(snapshotFor("stack", ["on-top"])), "E_CORRUPT");
        assert.deepEqual(await reader.list(), revs, "nothing was written");
        // The current names a missing revision: corruption too, not "not found".
        if (pointer !== undefined) await store.put(layout.current, pointer);
        await store.delete(key);
        await expectCode(make().get(rev), "E_CORRUPT");
        await expectCode(make().current(), "E_CORRUPT");
        const history = await make().history();
        assert.equal(history.currentProblem?.code, "E_CORRUPT");
      },
    );

    t.test("every revision records the rev it replaced; history follows the line", async () => {
      const { make } = await setup();
      const b = make();
      const r1 = await b.commit(snapshotFor("stack", ["one"]));
      // A log has no revision off the line (write is refused there).
      const orphan = isLog ? undefined : await make().write(snapshotFor("stack", ["never-current"]));
      const r2 = await b.commit(snapshotFor("stack", ["two"]));
      assert.equal((await b.readRevision(r1)).parentRevision, "");
      assert.equal((await b.readRevision(r2)).parentRevision, r1);
      if (orphan !== undefined) assert.equal((await b.readRevision(orphan)).parentRevision, r1);
      const history = await b.history({ open: true });
      assert.equal(history.current, r2);
      const line = [
        [r1, false, "", 1],
        ...(orphan === undefined ? [] : [[orphan, false, r1, 1]]),
        [r2, true, r1, 1],
      ];
      assert.deepEqual(
        history.revisions.map((r) => [r.rev, r.current, r.parentRevision, r.entries]),
        line,
      );
      // The summary (what a timeline reads) says the same, and each revision names its committer.
      const summary = await make().history({ open: "summary" });
      assert.deepEqual(
        summary.revisions.map((r) => [r.rev, r.current, r.parentRevision, r.entries]),
        line,
      );
      for (const r of [...history.revisions, ...summary.revisions])
        assert.match(r.committedBy ?? "", /^.+@.+$/, `${r.rev} records user@host`);
      const one = await make().revisionSummary(r2);
      assert.deepEqual([one.rev, one.entries, one.parentRevision], [r2, 1, r1]);
      // A server committing for a client names the client; a bad author is refused before any write.
      const r3 = await b.commit(snapshotFor("stack", ["three"]), { author: "carol@laptop" });
      assert.equal((await make().readRevision(r3)).committedBy, "carol@laptop");
      for (const author of ["", "a\nb", "x".repeat(257)])
        await expectCode(b.commit(snapshotFor("stack", ["four"]), { author }), "E_INVALID_ARGUMENT");
      assert.equal((await b.list()).length, isLog ? 3 : 4, "no refused commit wrote a revision");
    });

    if (isLog)
      t.test("unlocked writers that read the same current: exactly one commit wins", async () => {
        const { make } = await setup();
        await make().commit(snapshotFor("stack", ["v1"]));
        const writers = Array.from({ length: 5 }, () => make());
        await Promise.all(writers.map((w) => w.currentRev()));
        const results = await Promise.allSettled(
          writers.map((w, i) => w.commit(snapshotFor("stack", [`w${i}`]))),
        );
        const ok = results.filter((r) => r.status === "fulfilled");
        assert.equal(ok.length, 1);
        for (const r of results)
          if (r.status === "rejected") assert.ok(hasErrorCode(r.reason, "E_FENCED"), String(r.reason));
        // A writer commits on what it read: one that did not see another's commit is fenced.
        const slow = make();
        const seen = await slow.currentRev();
        const moved = await make().commit(snapshotFor("stack", ["moved"]));
        await expectCode(slow.commit(snapshotFor("stack", ["on-stale"])), "E_FENCED");
        assert.equal(await make().currentRev(), moved);
        assert.notEqual(seen, moved);
        // While someone holds the lock, an unlocked commit is refused naming the holder.
        const holder = make();
        const lock = await holder.lock({ operation: "apply" });
        const w = make();
        await w.currentRev();
        const err = (await expectCode(w.commit(snapshotFor("stack", ["sneaky"])), "E_LOCKED")) as LockedError;
        assert.equal(err.holder?.id, lock.id);
        await lock.unlock();
        assert.equal((await make().list()).length, 3);
      });
    else
      t.test("unlocked writers that read the same current: exactly one setCurrent wins", async () => {
        const { make } = await setup();
        await make().commit(snapshotFor("stack", ["v1"]));
        const writers = Array.from({ length: 5 }, () => make());
        await Promise.all(writers.map((w) => w.currentRev()));
        const revs = await Promise.all(writers.map((w, i) => w.write(snapshotFor("stack", [`w${i}`]))));
        const results = await Promise.allSettled(writers.map((w, i) => w.setCurrent(revs[i]!)));
        const ok = results.filter((r) => r.status === "fulfilled");
        assert.equal(ok.length, 1);
        for (const r of results)
          if (r.status === "rejected") assert.ok(hasErrorCode(r.reason, "E_FENCED"), String(r.reason));
      });

    t.test(
      "integrity: truncated, flipped, wrong-digest and moved snapshots never read as state",
      async () => {
        const { store, make, revKey, prefix } = await setup();
        const b = make();
        const rev = await b.commit(snapshotFor("stack", ["good"]));
        const key = revKey(rev);
        const good = (await store.get(key))!.body;
        const codes = ["E_CORRUPT", "E_DECRYPT"];
        const tryRead = async () => {
          try {
            await make().current();
            assert.fail("a damaged snapshot was read as state");
          } catch (e) {
            assert.ok(hasErrorCode(e, ...(codes as never[])), String(e));
          }
        };
        await store.put(key, good.slice(0, good.byteLength - 7));
        await tryRead();
        const flipped = Uint8Array.from(good);
        flipped[Math.floor(flipped.byteLength / 2)]! ^= 0x01;
        await store.put(key, flipped);
        await tryRead();
        // Another stack's snapshot copied into place: the digest check, and the sealed location, refuse it.
        const other = createBackend(store, {
          prefix,
          factory: FACTORY,
          stack: "other",
          encrypter: encrypter(),
          ...headOpt,
        });
        const otherRev = await other.commit(snapshotFor("other", ["theirs"]));
        const otherLayout = stackLayout(`${prefix}/`, FACTORY, "other");
        const otherKey = isLog
          ? logOf(store, otherLayout).key(Number(otherRev))
          : otherLayout.snapshot(otherRev);
        const otherBytes = (await store.get(otherKey))!.body;
        await store.put(key, otherBytes);
        await tryRead();
        try {
          await make().get(rev);
          assert.fail("a snapshot moved from another stack was opened");
        } catch (e) {
          assert.ok(hasErrorCode(e, "E_DECRYPT", "E_CORRUPT"), String(e));
        }
        await store.put(key, good);
        assert.deepEqual(
          (await make().current()).entries.map((e) => e.address),
          ["good"],
        );
      },
    );

    t.test("a store that ignores preconditions is refused before any state is written", async () => {
      const { store, prefix } = await setup();
      const liar = ignoringPreconditionsStore(store);
      const b = createBackend(liar, {
        prefix,
        factory: FACTORY,
        stack: "stack",
        encrypter: encrypter(),
        ...headOpt,
      });
      await expectCode(b.lock({ timeoutMs: 1000 }), "E_UNSUPPORTED_STORE");
      await expectCode(b.commit(snapshotFor("stack")), "E_UNSUPPORTED_STORE");
      const left: string[] = [];
      for await (const o of store.list(`${prefix}/`)) left.push(o.key);
      assert.deepEqual(left, []);
    });

    if (isLog) {
      t.test(
        "a store that ignores If-Match keeps a log-headed stack; a pointer stack on it is refused",
        async () => {
          const { store, prefix } = await setup();
          const noCas = ignoringIfMatchStore(store);
          const open = (stack: string, head: HeadMode) =>
            createBackend(noCas, {
              prefix,
              factory: FACTORY,
              stack,
              encrypter: encrypter(),
              head,
              lockDefaults: { leaseMs, pollMs },
            });
          const b = open("stack", "log");
          const r1 = await b.commit(snapshotFor("stack", ["one"]));
          const lock = await b.lock();
          const r2 = await b.commitChanges({ upsert: snapshotFor("stack", ["two"]).entries });
          await expectCode(open("stack", "log").commit(snapshotFor("stack", ["sneaky"])), "E_LOCKED");
          assert.equal(await lock.unlock(), true);
          assert.deepEqual(await open("stack", "pointer").list(), [r1, r2], "the objects decide the head");
          assert.deepEqual(
            (await open("stack", "pointer").current()).entries.map((e) => e.address),
            ["one", "two"],
          );
          await expectCode(
            open("pointer-stack", "pointer").commit(snapshotFor("pointer-stack")),
            "E_UNSUPPORTED_STORE",
          );
          await expectCode(open("pointer-stack", "pointer").lock({ timeoutMs: 1000 }), "E_UNSUPPORTED_STORE");
        },
      );

      t.test(
        "a stack keeps the head its objects show; one with both a pointer and a log is refused",
        async () => {
          const { store, prefix, make } = await setup();
          const pointerStack = createBackend(store, {
            prefix,
            factory: FACTORY,
            stack: "old",
            encrypter: encrypter(),
            head: "pointer",
          });
          const rev = await pointerStack.commit(snapshotFor("old", ["kept"]));
          const opened = make({ stack: "old" });
          const next = await opened.commit(snapshotFor("old", ["next"]));
          assert.ok(
            next.endsWith("Z") || next.includes("Z_"),
            `a pointer stack keeps its revision names: ${next}`,
          );
          assert.deepEqual(await opened.list(), [rev, next]);
          const logStack = make();
          const first = await logStack.commit(snapshotFor("stack", ["a"]));
          // Someone put a pointer beside the log: which revision is current is no longer known.
          const layout = stackLayout(`${prefix}/`, FACTORY, "stack");
          const oldLayout = stackLayout(`${prefix}/`, FACTORY, "old");
          await store.put(layout.current, (await store.get(oldLayout.current))!.body);
          for (const call of [
            (b: Backend) => b.current(),
            (b: Backend) => b.commit(snapshotFor("stack", ["b"])),
            (b: Backend) => b.lock({ timeoutMs: 1000 }),
            (b: Backend) => b.list(),
          ])
            await expectCode(call(make()), "E_CORRUPT");
          await store.delete(layout.current);
          assert.equal(await make().currentRev(), first);
        },
      );

      t.test(
        "two writers starting a pointer and a log on one empty stack at once: the stack is then refused",
        async () => {
          const { store, prefix, make } = await setup();
          const layout = stackLayout(`${prefix}/`, FACTORY, "stack");
          const logWriter = make();
          let raced = false;
          // The pointer writer found the stack empty; just before its `current` lands, the log
          // writer commits: each checks for the other head after its own first write.
          const racing = interceptStore(store, async (call) => {
            if (!raced && call.op === "put" && call.key === layout.current) {
              raced = true;
              await logWriter.commit(snapshotFor("stack", ["from-log"]));
            }
            return undefined;
          });
          const pointerWriter = make({ head: "pointer" }, racing);
          await expectCode(pointerWriter.commit(snapshotFor("stack", ["from-pointer"])), "E_CORRUPT");
          assert.equal(raced, true);
          for (const b of [make(), make({ head: "pointer" })]) await expectCode(b.current(), "E_CORRUPT");
          // The other way round: the log writer's first entry (a commit, or a lock) lands just after
          // a pointer writer committed; the log writer finds `current` and is refused.
          for (const [stack, first] of [
            ["by-commit", (b: Backend) => b.commit(snapshotFor("by-commit", ["from-log"]))],
            ["by-lock", (b: Backend) => b.lock({ timeoutMs: 1000 })],
          ] as const) {
            const entryOne = logOf(store, stackLayout(`${prefix}/`, FACTORY, stack)).key(1);
            let pointerFirst = false;
            const late = interceptStore(store, async (call) => {
              if (!pointerFirst && call.op === "put" && call.key === entryOne) {
                pointerFirst = true;
                await make({ stack, head: "pointer" }).commit(snapshotFor(stack, ["from-pointer"]));
              }
              return undefined;
            });
            await expectCode(first(make({ stack }, late)), "E_CORRUPT");
            assert.equal(pointerFirst, true, stack);
            await expectCode(make({ stack }).current(), "E_CORRUPT");
          }
        },
      );

      t.test("a commit under a held lock is one write and no read", async () => {
        const { store, make } = await setup();
        const { store: recorded, calls } = recordingStore(store);
        const b = make({}, recorded);
        await b.commit(snapshotFor("stack", ["a"]));
        // A lease long enough that no renewal falls between the two commits however slow the machine.
        const lock = await b.lock({ leaseMs: 60_000 });
        calls.length = 0;
        const rev = await b.commit(snapshotFor("stack", ["a", "b"]));
        const changed = await b.commitChanges({ remove: ["a"] });
        assert.deepEqual(
          calls.map((c) => c.op),
          ["put", "put"],
          calls.map((c) => `${c.op} ${c.key}`).join(", "),
        );
        await lock.unlock();
        assert.deepEqual(
          (await make().get(rev)).entries.map((e) => e.address),
          ["a", "b"],
        );
        assert.deepEqual(
          (await make().current()).entries.map((e) => e.address),
          ["b"],
        );
        assert.equal(await make().currentRev(), changed);
      });
    }

    t.test("reseal moves history to the primary key; current keeps opening and verifying", async () => {
      const { store, prefix } = await setup();
      const oldKey = keyEncrypter({ key: randomBytes(32) });
      const newKey = keyEncrypter({ key: randomBytes(32) });
      const open = (enc: Encrypter) =>
        createBackend(store, { prefix, factory: FACTORY, stack: "stack", encrypter: enc, ...headOpt });
      const before = open(oldKey);
      const r1 = await before.commit(snapshotFor("stack", ["one"]));
      const r2 = await before.commit(snapshotFor("stack", ["two"]));
      const rotating = open(keyring(newKey, oldKey));
      assert.equal(await backendInternals(rotating).reseal(r1), true);
      assert.equal(await backendInternals(rotating).reseal(r2), true);
      assert.equal(await backendInternals(rotating).reseal(r2), false, "already on the primary key");
      const after = open(newKey);
      assert.deepEqual(
        (await after.current()).entries.map((e) => e.address),
        ["two"],
      );
      assert.deepEqual(
        (await after.get(r1)).entries.map((e) => e.address),
        ["one"],
      );
      await expectCode(open(oldKey).current(), "E_DECRYPT");
    });

    t.test("reseal interrupted between its steps leaves a current that opens and verifies", async () => {
      const { store, prefix, revKey } = await setup();
      const oldKey = keyEncrypter({ key: randomBytes(32) });
      const newKey = keyEncrypter({ key: randomBytes(32) });
      const rev = await createBackend(store, {
        prefix,
        factory: FACTORY,
        stack: "stack",
        encrypter: oldKey,
        ...headOpt,
      }).commit(snapshotFor("stack", ["kept"]));
      // The pointer step succeeds; replacing the revision object fails (a crash at that point).
      const failing = interceptStore(store, (call) => {
        if (call.op === "put" && call.key === revKey(rev)) throw new Error("injected crash");
        return undefined;
      });
      const rotating = (on: ObjectStore) =>
        createBackend(on, {
          prefix,
          factory: FACTORY,
          stack: "stack",
          encrypter: keyring(newKey, oldKey),
          ...headOpt,
        });
      await assert.rejects(backendInternals(rotating(failing)).reseal(rev), /injected crash/);
      assert.deepEqual(
        (await rotating(store).current()).entries.map((e) => e.address),
        ["kept"],
      );
      assert.equal(await backendInternals(rotating(store)).reseal(rev), true);
      const after = createBackend(store, {
        prefix,
        factory: FACTORY,
        stack: "stack",
        encrypter: newKey,
        ...headOpt,
      });
      assert.deepEqual(
        (await after.current()).entries.map((e) => e.address),
        ["kept"],
      );
    });

    t.test(
      "a factory with '/' (a Go module path) is stored under one key segment and reads back",
      async () => {
        const { store, prefix, make } = await setup();
        const module = "github.com/acme/webshop";
        const snapshot = snapshotFor("stack", ["a.one", "b.two"]);
        snapshot.factory = { ...snapshot.factory, name: module };
        const rev = await make({ factory: module }).commit(snapshot);
        const keys: string[] = [];
        for await (const o of store.list(`${prefix}/`)) keys.push(o.key.slice(prefix.length + 1));
        if (isLog) {
          assert.ok(keys.includes("github.com~acme~webshop/stack/head"), keys.join(", "));
          const entry = `github.com~acme~webshop/stack/log/${"0".repeat(16)}/${rev.padStart(16, "0")}`;
          assert.ok(keys.includes(entry), keys.join(", "));
        } else {
          assert.ok(keys.includes("github.com~acme~webshop/stack/current"), keys.join(", "));
          assert.ok(
            keys.includes(`github.com~acme~webshop/stack/snapshots/${rev}.json.enc`),
            keys.join(", "),
          );
        }
        assert.ok(
          keys.every((k) => k.startsWith("github.com~acme~webshop/stack/")),
          `every object under the encoded segment: ${keys.join(", ")}`,
        );
        const again = make({ factory: module });
        assert.equal(again.factory, module);
        assert.deepEqual((await again.current()).entries.map((e) => e.address).sort(), ["a.one", "b.two"]);
      },
    );

    t.test("invalid names are refused before any I/O", async () => {
      const store = await makeStore();
      const { store: recorded, calls } = recordingStore(store);
      const bad = [
        "",
        ".",
        "..",
        "a/../b",
        "/abs",
        "a\\b",
        "%2e%2e",
        "a\u0000b",
        "a\nb",
        "x".repeat(200),
        "a/b",
        " lead",
      ];
      for (const name of [...bad, "a//b", "a/", "a~b", "a/b~c", "a/%2e%2e"]) {
        for (const field of ["factory", "stack"] as const) {
          // A factory may be '/'-separated valid segments (a Go module path); a stack never holds '/'.
          if (field === "factory" && name === "a/b") continue;
          const opts = { factory: FACTORY, stack: "stack", encrypter: encrypter(), [field]: name };
          assert.throws(
            () => createBackend(recorded, opts),
            (e) => hasErrorCode(e, "E_INVALID_NAME"),
            `${field}=${JSON.stringify(name)}`,
          );
        }
        if (name !== "" && name !== "a/b" && name !== "a/")
          assert.throws(
            () =>
              createBackend(recorded, { prefix: name, factory: FACTORY, stack: "s", encrypter: encrypter() }),
            (e) => hasErrorCode(e, "E_INVALID_NAME"),
            `prefix=${JSON.stringify(name)}`,
          );
      }
      const b = createBackend(recorded, { factory: FACTORY, stack: "stack", encrypter: encrypter() });
      await expectCode(b.get("../../etc/passwd"), "E_INVALID_ARGUMENT");
      assert.deepEqual(calls, []);
    });
  });
}
