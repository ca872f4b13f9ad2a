import assert from "node:assert/strict";
import { test } from "node:test";
import { memoryStore } from "../../src/objectstore/memory.js";
import { isStoreError } from "../../src/objectstore/types.js";

test("memory store: create-only refuses an existing key", async () => {
  const s = memoryStore();
  await s.put("a/b", new Uint8Array([1]), { ifNoneMatch: "*" });
  await assert.rejects(s.put("a/b", new Uint8Array([2]), { ifNoneMatch: "*" }), (e) =>
    isStoreError(e, "PRECONDITION_FAILED"),
  );
  assert.deepEqual((await s.get("a/b"))?.body, new Uint8Array([1]));
});
