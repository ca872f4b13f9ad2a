// Checkpoints written behind the commits (issue 13): under a held lock that has committed before,
// a commit whose overlay is due for a checkpoint carries it and starts the checkpoint's chunk
// writes beside its own; a later commit of the same lock adopts the new chunk list. Shown here:
// commits complete while those writes are held back, a commit waits once its overlay is past what
// it may carry, unlock waits for the writes, a failed checkpoint is dropped and folded later, and
// (property) every revision reads back as a plain model says, whatever the writes' timing.
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import fc from "fast-check";
import { verifyStack } from "../../src/admin/verify.js";
import { type Backend, createBackend, type HeadMode } from "../../src/backend/backend.js";
import { noopEncrypter } from "../../src/crypto/noop.js";
import { isStateKeeperError } from "../../src/errors.js";
import { fileStore } from "../../src/objectstore/file.js";
import { memoryStore } from "../../src/objectstore/memory.js";
import { type ObjectStore, StoreError } from "../../src/objectstore/types.js";
import type { Entry, Snapshot } from "../../src/snapshot/index.js";
import { compareCodePoints } from "../../src/snapshot/revision.js";
import { interceptStore } from "../../src/testing/store-decorators.js";

const FACTORY = { name: "factory", version: "1.0.0", contentRevision: "abc" };

const entry = (address: string, n = 0, pad = 200): Entry => ({
  address,
  type: "leaf",
  kind: "test.resource",
  inputs: { n, pad: "x".repeat(pad) },
});

const snapshotOf = (stack: string, entries: Iterable<Entry>): Snapshot => ({
  formatVersion: 1,
  factory: { ...FACTORY },
  stack,
  generatedAt: new Date().toISOString(),
  entries: [...entries],
});

const sorted = (es: Iterable<Entry>): Entry[] =>
  [...es].sort((a, b) => compareCodePoints(a.address, b.address));

/**
 * A store whose chunk writes (`…/chunks/…` puts) can be held back until released, delayed, or
 * refused, and which records every put and the chunk list each revision names (the noop envelope
 * holds a manifest's plaintext as is).
 */
function chunkGate(inner: ObjectStore) {
  let held: { promise: Promise<void>; release: () => void } | undefined;
  let refusing = false;
  let delay: () => number = () => 0;
  const state = { started: 0, waiting: 0, refused: 0, puts: 0 };
  /** The chunk list each revision written names, and whether it carries an overlay. */
  const lists: { id: string; overlay: boolean }[] = [];
  /** The ids of the chunk lists written (objects under `chunks/` holding a list, not entries). */
  const listObjects: string[] = [];
  const store = interceptStore(inner, async (call) => {
    if (call.op !== "put") return undefined;
    state.puts++;
    if (!call.key.includes("/chunks/")) return undefined;
    state.started++;
    if (refusing) {
      state.refused++;
      throw new StoreError("UNAVAILABLE", `injected: chunk write ${call.key} refused`, {
        key: call.key,
        retryable: false,
      });
    }
    const ms = delay();
    if (ms > 0) await sleep(ms);
    const gate = held;
    if (gate !== undefined) {
      state.waiting++;
      await gate.promise;
      state.waiting--;
    }
    return undefined;
  });
  const withLists: ObjectStore = {
    ...store,
    name: inner.name,
    async put(key, body, opts) {
      const r = await store.put(key, body, opts);
      if (key.includes("/log/") || key.includes("/snapshots/")) {
        const text = Buffer.from(body).toString("utf8");
        const list = /"chunk-list":\{[^}]*"id":"([0-9a-f]+)"/.exec(text);
        if (list !== null) lists.push({ id: list[1] as string, overlay: /"(upsert|remove)":\[/.test(text) });
      } else if (
        key.includes("/chunks/") &&
        // A one-level list or a leaf, or a root (its keys sorted: "format-version" before "lists").
        /\{"(chunks|format-version":2,"lists)":\[/.test(Buffer.from(body).toString("utf8"))
      )
        listObjects.push(key.slice(key.lastIndexOf("/") + 1));
      return r;
    },
  };
  return {
    store: withLists,
    state,
    lists,
    listObjects,
    hold() {
      let release = () => {};
      const promise = new Promise<void>((resolve) => {
        release = resolve;
      });
      held = { promise, release };
    },
    release() {
      const gate = held;
      held = undefined;
      gate?.release();
    },
    refuse(on: boolean) {
      refusing = on;
    },
    delayBy(f: () => number) {
      delay = f;
    },
  };
}

/** Whether `p` settles within `ms` (a hang detector, generous: never a measure of speed). */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  const timer = sleep(ms).then(() => false);
  return Promise.race([
    p.then(
      () => true,
      () => true,
    ),
    timer,
  ]);
}

const stores: [string, () => ObjectStore][] = [
  ["memory", () => memoryStore()],
  ["file", () => fileStore(mkdtempSync(join(tmpdir(), "statekeeper-fold-behind-")))],
];

for (const [storeName, makeStore] of stores) {
  describe(`checkpoints behind the commits (${storeName})`, () => {
    const open = (store: ObjectStore, stack: string, head: HeadMode = "log"): Backend =>
      createBackend(store, {
        factory: "factory",
        stack,
        encrypter: noopEncrypter(),
        chunkTargetBytes: 1024,
        head,
      });

    /**
     * A stack of 60 entries committed through a gated store (`chunkGate`), the model of its state,
     * and `next`: the next one-entry change (entry r.<n mod 60> rewritten), not yet committed.
     */
    const sixtyEntries = async (stack: string, head: HeadMode = "log") => {
      const g = chunkGate(makeStore());
      const backend = open(g.store, stack, head);
      const model = new Map<string, Entry>(
        Array.from({ length: 60 }, (_, i) => [`r.${i}`, entry(`r.${i}`)] as const),
      );
      const rev = await backend.commit(snapshotOf(stack, model.values()));
      let n = 0;
      const next = () => {
        n++;
        return entry(`r.${n % 60}`, n);
      };
      return { g, backend, model, rev, next, changes: () => n };
    };

    for (const head of ["log", "pointer"] as const)
      test(`${head} head: commits go on while a checkpoint's writes are held; past the carry one waits; unlock waits for them`, async () => {
        const stack = `held-${head}`;
        const { g, backend, model, rev, next, changes } = await sixtyEntries(stack, head);
        const revs: { rev: string; state: Entry[] }[] = [{ rev, state: sorted(model.values()) }];
        const change = () => {
          const e = next();
          model.set(e.address, e);
          const state = sorted(model.values());
          return backend.commitChanges({ upsert: [e] }).then((rev) => {
            revs.push({ rev, state });
            return rev;
          });
        };
        const lock = await backend.lock();
        await change(); // the lock's first commit: a checkpoint it needs is written in the commit
        g.hold();
        while (g.state.waiting === 0) {
          assert.ok(changes() < 40, "no checkpoint was started behind the commits");
          assert.ok(await settlesWithin(change(), 10_000), "a commit waited for a held chunk write");
        }
        // A checkpoint's chunk writes are held: the next commits complete all the same, until the
        // overlay passes what a commit may carry; that commit waits for the checkpoint.
        let carried = 0;
        let waiting: Promise<string> | undefined;
        for (let k = 0; k < 40 && waiting === undefined; k++) {
          const p = change();
          if (await settlesWithin(p, 4_000)) carried++;
          else waiting = p;
        }
        assert.ok(carried >= 1, `${carried} commits completed while the checkpoint's writes were held`);
        assert.ok(waiting !== undefined, "no commit waited though its overlay kept growing");
        const listsBefore = new Set(g.lists.map((l) => l.id));
        assert.ok(listsBefore.size > 0, "no revision named a chunk list");
        g.release();
        await waiting;
        // The commit that waited stands on the new chunk list, with the changes since as its overlay.
        const adopted = g.lists.at(-1);
        assert.ok(
          adopted !== undefined && !listsBefore.has(adopted.id),
          "the waiting commit adopted the checkpoint",
        );
        assert.ok(adopted.overlay, "the adopting commit carries the changes since the checkpoint");

        // Unlock waits for a checkpoint in flight: nothing is written once it returns.
        g.hold();
        while (g.state.waiting === 0) {
          assert.ok(changes() < 200, "no second checkpoint was started behind the commits");
          await change();
        }
        const unlocked = lock.unlock();
        assert.equal(
          await settlesWithin(unlocked, 300),
          false,
          "unlock returned with chunk writes in flight",
        );
        g.release();
        assert.equal(await unlocked, true);
        const puts = g.state.puts;
        await sleep(50);
        assert.equal(g.state.puts, puts, "a write happened after unlock returned");

        // Every revision reads back as the model was, from a backend with nothing cached.
        const fresh = open(g.store, stack, head);
        for (const { rev, state } of revs)
          assert.deepEqual(sorted((await fresh.get(rev)).entries), state, rev);
        const report = await verifyStack(open(g.store, stack, head));
        assert.deepEqual(report.problems, []);
        assert.equal(report.ok, true);
      });

    test("a checkpoint behind the commits is not adopted once 30 s have passed since it started", async () => {
      const stack = "late";
      const { g, backend, model, next, changes } = await sixtyEntries(stack);
      // A lease longer than the jump of the clock below (the lease measures time by it too).
      const lock = await backend.lock({ leaseMs: 300_000 });
      const change = async () => {
        const e = next();
        model.set(e.address, e);
        return backend.commitChanges({ upsert: [e] });
      };
      await change();
      g.hold();
      while (g.state.waiting === 0) {
        assert.ok(changes() < 40, "no checkpoint was started behind the commits");
        await change();
      }
      const listsBefore = g.listObjects.length;
      g.release();
      while (g.listObjects.length === listsBefore) await sleep(5);
      const folded = g.listObjects.at(-1);
      // The checkpoint is written; the clock the backend measures its age with moves 31 s on.
      const realNow = performance.now.bind(performance);
      performance.now = () => realNow() + 31_000;
      try {
        await change();
      } finally {
        performance.now = realNow;
      }
      const named = g.lists.at(-1);
      assert.ok(named !== undefined && folded !== undefined);
      assert.notEqual(named.id, folded, "a checkpoint started over 30 s before was adopted");
      await lock.unlock();
      assert.deepEqual(sorted((await open(g.store, stack).current()).entries), sorted(model.values()));
      assert.deepEqual((await verifyStack(open(g.store, stack))).problems, []);
    });

    test("a checkpoint behind the commits that fails is dropped; past the carry the commit fails cleanly; later ones fold", async () => {
      const stack = "refused";
      const { g, backend, model, next, changes } = await sixtyEntries(stack);
      const lock = await backend.lock();
      const commitOne = async (e: Entry) => {
        const rev = await backend.commitChanges({ upsert: [e] });
        model.set(e.address, e);
        return rev;
      };
      let last = await commitOne(next());
      g.refuse(true);
      while (g.state.refused === 0) {
        assert.ok(changes() < 40, "no checkpoint was started behind the commits");
        last = await commitOne(next());
      }
      // The refused checkpoint ran behind a commit that succeeded. Commits go on carrying the
      // overlay, until one must checkpoint in the commit itself: it fails, and nothing changed.
      let failed: unknown;
      for (let k = 0; k < 60 && failed === undefined; k++) {
        try {
          last = await commitOne(next());
        } catch (e) {
          failed = e;
        }
      }
      assert.ok(isStateKeeperError(failed), `no commit failed: ${String(failed)}`);
      assert.match(failed.message, /injected: chunk write .* refused/);
      assert.equal(await backend.currentRev(), last, "the failed commit moved the head");
      assert.deepEqual(sorted((await open(g.store, stack).current()).entries), sorted(model.values()));
      g.refuse(false);
      const started = g.state.started;
      for (let k = 0; k < 3; k++) last = await commitOne(next());
      assert.ok(g.state.started > started, "the overlay was not folded once chunk writes worked again");
      await lock.unlock();
      assert.deepEqual(sorted((await open(g.store, stack).get(last)).entries), sorted(model.values()));
      const report = await verifyStack(open(g.store, stack));
      assert.deepEqual(report.problems, []);
    });

    test("property: under held locks, with chunk writes slow at random, every revision reads back as the model", async () => {
      const g = chunkGate(makeStore());
      const addresses = fc.constantFrom(
        ...Array.from({ length: 40 }, (_, i) => `r.${String(i).padStart(2, "0")}`),
      );
      const op = fc.oneof(
        {
          weight: 8,
          arbitrary: fc.record({
            kind: fc.constant("changes" as const),
            upsert: fc.array(
              fc.tuple(addresses, fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 200 })),
              {
                minLength: 1,
                maxLength: 2,
              },
            ),
            remove: fc.array(addresses, { maxLength: 1 }),
          }),
        },
        { weight: 1, arbitrary: fc.record({ kind: fc.constant("snapshot" as const) }) },
        { weight: 1, arbitrary: fc.record({ kind: fc.constant("relock" as const) }) },
      );
      let run = 0;
      let adopted = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(op, { minLength: 10, maxLength: 40 }),
          fc.array(fc.integer({ min: 0, max: 12 }), { minLength: 1, maxLength: 16 }),
          async (ops, delays) => {
            const stack = `p${run}`;
            const head: HeadMode = run++ % 2 === 0 ? "log" : "pointer";
            let d = 0;
            g.delayBy(() => delays[d++ % delays.length] as number);
            const backend = open(g.store, stack, head);
            const model = new Map<string, Entry>(
              Array.from({ length: 30 }, (_, i) => {
                const a = `r.${String(i).padStart(2, "0")}`;
                return [a, entry(a)] as const;
              }),
            );
            const revs: { rev: string; state: Entry[] }[] = [
              { rev: await backend.commit(snapshotOf(stack, model.values())), state: sorted(model.values()) },
            ];
            let lock = await backend.lock();
            try {
              for (const o of ops) {
                if (o.kind === "relock") {
                  await lock.unlock();
                  lock = await backend.lock();
                  continue;
                }
                const listsBefore = g.lists.length;
                let rev: string;
                if (o.kind === "snapshot") rev = await backend.commit(snapshotOf(stack, model.values()));
                else {
                  const remove = [...new Set(o.remove)].filter((a) => model.has(a));
                  const upsert = new Map<string, Entry>();
                  for (const [a, v, pad] of o.upsert) upsert.set(a, entry(a, v, pad));
                  for (const a of remove) model.delete(a);
                  for (const [a, e] of upsert) model.set(a, e);
                  rev = await backend.commitChanges({ remove, upsert: [...upsert.values()] });
                  // A new chunk list under an overlay: a checkpoint in the commit itself leaves
                  // none, so the list was written behind earlier commits and adopted by this one.
                  const [before, now] = [g.lists[listsBefore - 1], g.lists.at(-1)];
                  if (
                    g.lists.length > listsBefore &&
                    before !== undefined &&
                    now?.id !== before.id &&
                    now?.overlay
                  )
                    adopted++;
                }
                revs.push({ rev, state: sorted(model.values()) });
              }
            } finally {
              await lock.unlock();
            }
            const fresh = open(g.store, stack, head);
            for (const { rev, state } of revs)
              assert.deepEqual(sorted((await fresh.get(rev)).entries), state, rev);
            const report = await verifyStack(open(g.store, stack, head));
            assert.deepEqual(report.problems, []);
          },
        ),
        { numRuns: storeName === "file" ? 12 : 40 },
      );
      // Coverage: the property must have met adoptions, not only commits that carried an overlay.
      // Counted on the memory store, whose timing the injected delays decide (14–22 adoptions in
      // 40 runs); on the file store a loaded machine's own I/O times decide how many of its 12
      // runs adopt, and the held-writes test above shows an adoption there deterministically.
      if (storeName === "memory")
        assert.ok(adopted >= 3, `only ${adopted} commits adopted a checkpoint written behind the commits`);
    });
  });
}
