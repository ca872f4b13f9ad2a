import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type ListStacksPhase, listStacks, stacksCache } from "../../src/admin/index.js";
import { createBackend } from "../../src/backend/index.js";
import { interceptStore } from "../../src/testing/store-decorators.js";
import {
  commitRevisions,
  modesAgree,
  newKey,
  open,
  recorder,
  rejectsWith,
  STORES,
  snapshot,
} from "./support.js";

for (const { name, make } of STORES) {
  describe(`listStacks (${name} store)`, () => {
    it("lists every stack with its current rev, revision count and lock holder, without any key", async () => {
      const store = make();
      const key = newKey();
      const prod = open(store, key, "prod");
      const revs = await commitRevisions(prod, 2);
      const staging = open(store, key, "staging");
      await staging.write(snapshot(["never-current"], "staging"));
      const lock = await staging.lock({ operation: "apply" });
      try {
        const { events, onProgress } = recorder<ListStacksPhase>();
        const rows = await listStacks(store, { onProgress });
        const prodRow = rows[0];
        const sealed = await store.get(`webshop/prod/snapshots/${revs[1]}.json.enc`);
        assert.equal(
          prodRow?.size,
          sealed?.body.byteLength,
          "the current revision's sealed size, from the pointer",
        );
        assert.match(prodRow?.by ?? "", /.@./);
        assert.ok(Date.parse(prodRow?.updated ?? "") > Date.now() - 600_000, prodRow?.updated ?? "");
        assert.deepEqual(rows, [
          {
            factory: "webshop",
            stack: "prod",
            current: revs[1],
            size: prodRow?.size,
            // The pointer records the committed snapshot's entry count (one entry, `r1`).
            entries: 1,
            updated: prodRow?.updated,
            by: prodRow?.by,
            revisions: 2,
            locked: false,
            holder: null,
          },
          {
            factory: "webshop",
            stack: "staging",
            current: null,
            size: null,
            entries: null,
            updated: null,
            by: null,
            revisions: 1,
            locked: true,
            holder: { ...lock.holder },
          },
        ]);
        assert.deepEqual(events[0], { phase: "reading", done: 0, total: 2 });
        assert.deepEqual(
          events
            .slice(1)
            .map((e) => e.stack)
            .sort(),
          ["webshop/prod", "webshop/staging"],
        );
        assert.deepEqual(
          events.map((e) => e.done),
          [0, 1, 2],
        );
      } finally {
        await lock.unlock();
      }
    });

    it("looks only under the prefix it is given", async () => {
      const store = make();
      await createBackend(store, { prefix: "team-a", factory: "f", stack: "s", encrypter: newKey() }).commit({
        ...snapshot(["x"], "s"),
        factory: { name: "f", version: "1", contentRevision: "c" },
      });
      await commitRevisions(open(store, newKey()), 1);
      const underPrefix = await listStacks(store, { prefix: "team-a" });
      assert.deepEqual(
        underPrefix.map((r) => [r.factory, r.stack, r.revisions]),
        [["f", "s", 1]],
      );
    });

    it("an aborted signal rejects with E_ABORTED", async () => {
      const store = make();
      await commitRevisions(open(store, newKey()), 1);
      const controller = new AbortController();
      controller.abort(new Error("stop"));
      const err = await rejectsWith(listStacks(store, { signal: controller.signal }), "E_ABORTED");
      assert.equal((err.cause as Error).message, "stop");
    });
  });
}

for (const { name, make } of STORES) {
  describe(`listStacks without counting revisions (${name} store)`, () => {
    it("finds every kind of stack, and nothing else, counting revisions or not", async () => {
      await modesAgree(make());
    });

    it("a cached pointer is reused while its etag holds, and read again once a commit moves it", async () => {
      const inner = make();
      let pointerReads = 0;
      const store = interceptStore(inner, (call) => {
        if (call.op === "get" && call.key === "webshop/prod/current") pointerReads++;
        return undefined;
      });
      const backend = open(inner, newKey(), "prod");
      const [first] = await commitRevisions(backend, 1);
      const cache = stacksCache();
      const rows = async () => {
        pointerReads = 0;
        return (await listStacks(store, { cache, revisions: false })).map((r) => r.current);
      };
      assert.deepEqual(await rows(), [first]);
      assert.equal(pointerReads, 1);
      assert.deepEqual(await rows(), [first]);
      assert.equal(pointerReads, 0, "the cached pointer is reused");
      const second = await backend.commit(snapshot(["r9"]));
      assert.deepEqual(await rows(), [second], "the moved pointer is read again, not taken from the cache");
      assert.equal(pointerReads, 1);
    });
  });
}
