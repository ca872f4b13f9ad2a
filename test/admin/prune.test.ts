import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type PrunePhase, pruneStack } from "../../src/admin/index.js";
import { commitRevisions, newKey, open, recorder, rejectsWith, STORES } from "./support.js";

for (const { name, make } of STORES) {
  describe(`pruneStack (${name} store)`, () => {
    it("a dry run plans without deleting; a real run deletes all but the newest N and the current one", async () => {
      const store = make();
      const key = newKey();
      const backend = open(store, key);
      const revs = await commitRevisions(backend, 5);
      await backend.setCurrent(revs[0] as string); // an old current is kept whatever `keep` says

      const plan = await pruneStack(backend, { keep: 2, dryRun: true });
      assert.deepEqual(plan, {
        dryRun: true,
        keep: 2,
        current: revs[0],
        wouldDelete: revs.slice(1, 3),
        kept: [revs[0], revs[3], revs[4]],
      });
      assert.deepEqual(await backend.list(), revs, "a dry run deletes nothing");

      const { events, onProgress } = recorder<PrunePhase>();
      // Deleting needs no key: a metadata-only backend prunes encrypted history.
      const done = await pruneStack(open(store), { keep: 2, onProgress });
      assert.deepEqual(done, {
        dryRun: false,
        keep: 2,
        current: revs[0],
        deleted: revs.slice(1, 3),
        kept: [revs[0], revs[3], revs[4]],
        chunks: { chunks: 0, deleted: 0, deletedBytes: 0, young: 0 },
      });
      assert.deepEqual(await backend.list(), [revs[0], revs[3], revs[4]]);
      assert.deepEqual(events, [
        { phase: "pruning", done: 0, total: 2 },
        { phase: "pruning", done: 1, total: 2, rev: revs[1] },
        { phase: "pruning", done: 2, total: 2, rev: revs[2] },
      ]);
      assert.equal(await backend.lockInfo(), undefined, "the lock is released");
    });

    it("an abort between deletions stops there: E_ABORTED naming what went, every other revision whole", async () => {
      const store = make();
      const key = newKey();
      const backend = open(store, key);
      const revs = await commitRevisions(backend, 5);
      const controller = new AbortController();
      const reason = new Error("operator pressed ctrl-c");
      const err = await rejectsWith(
        pruneStack(backend, {
          keep: 0,
          signal: controller.signal,
          onProgress: (e) => {
            if (e.done === 2) controller.abort(reason);
          },
        }),
        "E_ABORTED",
      );
      assert.equal(err.cause, reason, "the abort reason is the cause");
      assert.match(err.message, /prune of webshop\/prod was aborted/);
      assert.deepEqual(err.details.deleted, revs.slice(0, 2));
      assert.deepEqual(await backend.list(), revs.slice(2));
      for (const rev of revs.slice(2)) assert.equal((await backend.get(rev)).entries.length, 1, rev);
      assert.equal(await backend.lockInfo(), undefined, "the lock is released after an abort");
    });

    it("an already aborted signal deletes nothing and takes no lock", async () => {
      const backend = open(make(), newKey());
      const revs = await commitRevisions(backend, 3);
      const controller = new AbortController();
      controller.abort(new Error("stop"));
      await rejectsWith(pruneStack(backend, { keep: 0, signal: controller.signal }), "E_ABORTED");
      assert.deepEqual(await backend.list(), revs);
    });

    it("refuses a keep that is not a whole number", async () => {
      const backend = open(make());
      for (const keep of [-1, 1.5, Number.NaN])
        await rejectsWith(pruneStack(backend, { keep }), "E_INVALID_ARGUMENT");
    });
  });
}
