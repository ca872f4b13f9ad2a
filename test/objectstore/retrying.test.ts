// The one retry layer: lost responses settled by put id (never by comparing bytes), conditional
// deletes that never remove a successor's object, and unsettled writes reported as such.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { memoryStore } from "../../src/objectstore/memory.js";
import { retryingStore } from "../../src/objectstore/retrying.js";
import { isStoreError, type ObjectStore, StoreError } from "../../src/objectstore/types.js";
import { interceptStore, type StoreCall } from "../../src/testing/store-decorators.js";

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));
const fast = { baseDelayMs: 1 };

/** A store whose hook decides per call: pass, lose the response (applied), or drop it (not applied). */
function faulty(inner: ObjectStore, decide: (call: StoreCall) => "lose" | "drop" | undefined): ObjectStore {
  return interceptStore(inner, (call) => {
    const fault = decide(call);
    if (fault === "drop")
      throw new StoreError("UNAVAILABLE", `injected: ${call.op} ${call.key} dropped`, { key: call.key });
    return fault === "lose" ? "lose-response" : undefined;
  });
}

describe("retryingStore", () => {
  test("a create whose response was lost is recognised as ours by its put id", async () => {
    const inner = memoryStore();
    let lost = 0;
    const store = retryingStore(
      faulty(inner, (c) => (c.op === "put" && lost++ === 0 ? "lose" : undefined)),
      fast,
    );
    const { etag } = await store.put("k", bytes("mine"), { ifNoneMatch: "*" });
    const now = await inner.get("k");
    assert.equal(now?.etag, etag);
    assert.equal(text(now?.body), "mine");
  });

  test("another writer's byte-identical create is not mistaken for ours", async () => {
    const inner = memoryStore();
    let first = true;
    const store = retryingStore(
      faulty(inner, (c) => {
        if (c.op !== "put" || !first) return undefined;
        first = false;
        return "drop"; // ours never reached the store...
      }),
      fast,
    );
    const racing = interceptStore(inner, () => undefined);
    const write = store.put("k", bytes("same"), { ifNoneMatch: "*" });
    await racing.put("k", bytes("same"), { ifNoneMatch: "*" }); // ...but someone else's equal bytes did
    await assert.rejects(write, (e: unknown) => isStoreError(e, "PRECONDITION_FAILED"));
  });

  test("a conditional delete whose response was lost never removes the successor's new object", async () => {
    const inner = memoryStore();
    const { etag } = await inner.put("lock", bytes("ours"));
    let lose = true;
    // The DELETE lands, the successor creates its lock at once, and then the answer is lost.
    const network: ObjectStore = {
      ...inner,
      async delete(key, opts) {
        await inner.delete(key, opts);
        if (!lose) return;
        lose = false;
        await inner.put(key, bytes("successor"), { ifNoneMatch: "*" });
        throw new StoreError("UNAVAILABLE", "injected: response lost", { key, outcomeUnknown: true });
      },
    };
    await retryingStore(network, fast).delete("lock", { ifMatch: etag });
    assert.equal(text((await inner.get("lock"))?.body), "successor");
  });

  test("a write that cannot be settled fails saying its outcome is unknown", async () => {
    const inner = memoryStore();
    const store = retryingStore(
      faulty(inner, (c) => (c.op === "put" ? "lose" : c.op === "head" ? "drop" : undefined)),
      { baseDelayMs: 1, maxAttempts: 2 },
    );
    await assert.rejects(store.put("k", bytes("v"), { ifNoneMatch: "*" }), (e: unknown) => {
      assert.ok(isStoreError(e));
      assert.equal(e.outcomeUnknown, true);
      assert.match(e.message, /outcome is unknown/);
      return true;
    });
  });

  test("a compare-and-swap whose answer was lost, replaced since, is not settled as refused", async () => {
    const inner = memoryStore();
    const { etag } = await inner.put("current", bytes("v1"));
    let lose = true;
    // Ours lands, a writer that read it replaces it, and then our answer is lost.
    const network: ObjectStore = {
      ...inner,
      async put(key, body, opts) {
        const r = await inner.put(key, body, opts);
        if (!lose) return r;
        lose = false;
        await inner.put(key, bytes("built on ours"), { ifMatch: r.etag });
        throw new StoreError("UNAVAILABLE", "injected: response lost", { key, outcomeUnknown: true });
      },
    };
    await assert.rejects(
      retryingStore(network, fast).put("current", bytes("v2"), { ifMatch: etag }),
      (e: unknown) => {
        assert.ok(isStoreError(e, "PRECONDITION_FAILED"), "the condition failed");
        assert.equal(e.outcomeUnknown, true, "but whether ours landed first is unknown");
        return true;
      },
    );
  });

  test("a compare-and-swap that never got an answer, over a version still there, did not land", async () => {
    const inner = memoryStore();
    const { etag } = await inner.put("current", bytes("v1"));
    const never: ObjectStore = {
      ...inner,
      async put(key) {
        throw new StoreError("UNAVAILABLE", "injected: no answer", { key, outcomeUnknown: true });
      },
    };
    await assert.rejects(
      retryingStore(never, { baseDelayMs: 1, maxAttempts: 2 }).put("current", bytes("v2"), { ifMatch: etag }),
      (e: unknown) => {
        assert.ok(isStoreError(e, "UNAVAILABLE"));
        assert.equal(e.outcomeUnknown, false, "the version it named is still stored: settled");
        assert.match(e.message, /did not take effect/);
        return true;
      },
    );
    assert.equal(text((await inner.get("current"))?.body), "v1");
  });

  test("transient read failures are retried a bounded number of times", async () => {
    const inner = memoryStore();
    await inner.put("k", bytes("v"));
    let gets = 0;
    const store = retryingStore(
      faulty(inner, (c) => (c.op === "get" && gets++ < 2 ? "drop" : undefined)),
      { baseDelayMs: 1, maxAttempts: 3 },
    );
    assert.equal(text((await store.get("k"))?.body), "v");
    gets = -10;
    await assert.rejects(store.get("k"), (e: unknown) => isStoreError(e, "UNAVAILABLE"));
  });
});
