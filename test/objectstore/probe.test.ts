// The probe's verdict under lost responses (never a "no" caused by a fault, never a remembered
// one), on the generic probe (file and memory stores).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { storeCapabilities } from "../../src/backend/capabilities.js";
import { hasErrorCode } from "../../src/errors.js";
import { fileStore } from "../../src/objectstore/file.js";
import { memoryStore } from "../../src/objectstore/memory.js";
import { PROBE_PREFIX, probeConditionalRequests } from "../../src/objectstore/probe.js";
import type { ObjectStore } from "../../src/objectstore/types.js";
import { isStoreError } from "../../src/objectstore/types.js";
import {
  ignoringPreconditionsStore,
  interceptStore,
  type StoreCall,
} from "../../src/testing/store-decorators.js";

const base = mkdtempSync(join(tmpdir(), "statekeeper-probe-"));
after(() => rmSync(base, { recursive: true, force: true }));
let counter = 0;
const freshFileStore = () => fileStore(join(base, `root-${++counter}`));
const isProbeCall = (call: StoreCall) => call.key.startsWith(PROBE_PREFIX) && call.op !== "list";

async function keys(store: ObjectStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list(prefix)) out.push(o.key);
  return out;
}

/** The probe's requests on its scratch key in a run without faults. */
async function cleanRunLength(makeStore: () => ObjectStore): Promise<number> {
  let n = 0;
  await probeConditionalRequests(
    interceptStore(makeStore(), (call) => {
      if (isProbeCall(call)) n++;
      return undefined;
    }),
  );
  return n;
}

/** A store whose `probe()` runs the generic probe through `hook`, as a driver's own probe would. */
function probingThrough(inner: ObjectStore, hook: Parameters<typeof interceptStore>[1]): ObjectStore {
  const intercepted = interceptStore(inner, hook);
  return { ...intercepted, probe: () => probeConditionalRequests(intercepted) };
}

describe("generic probe: a lost response never refuses a working store", () => {
  for (const [name, makeStore] of [
    ["file", freshFileStore],
    ["memory", () => memoryStore()],
  ] as const) {
    test(`${name}: whichever probe request loses its response, every condition is still reported honoured`, async () => {
      const requests = await cleanRunLength(makeStore);
      assert.ok(requests >= 8, `a clean run makes ${requests} requests`);
      for (let lost = 0; lost < requests; lost++) {
        let seen = 0;
        const store = interceptStore(makeStore(), (call) =>
          isProbeCall(call) && seen++ === lost ? "lose-response" : undefined,
        );
        const caps = await probeConditionalRequests(store);
        const why = `response ${lost} lost: ${caps.notes.join("; ")}`;
        assert.equal(caps.createOnly, true, why);
        assert.equal(caps.compareAndSwap, true, why);
        assert.equal(caps.conditionalDelete, true, why);
      }
    });
  }

  test("a store that ignores preconditions is still refused when a response is lost", async () => {
    let seen = 0;
    const store = interceptStore(ignoringPreconditionsStore(freshFileStore()), (call) =>
      isProbeCall(call) && seen++ === 0 ? "lose-response" : undefined,
    );
    const caps = await probeConditionalRequests(store);
    assert.equal(caps.createOnly, false, caps.notes.join("; "));
    assert.equal(caps.compareAndSwap, false, caps.notes.join("; "));
  });

  test("responses lost on every run: a retryable E_UNAVAILABLE, never cached; the next call probes again", async () => {
    let faults = true;
    const store = probingThrough(freshFileStore(), (call) =>
      faults && call.op === "put" && isProbeCall(call) ? "lose-response" : undefined,
    );
    await assert.rejects(
      storeCapabilities(store),
      (e: unknown) => hasErrorCode(e, "E_UNAVAILABLE") && isStoreError(e) && e.retryable,
    );
    faults = false;
    const caps = await storeCapabilities(store);
    assert.equal(caps.createOnly, true);
    assert.equal(caps.compareAndSwap, true);
    assert.deepEqual(await keys(store, PROBE_PREFIX), [], "no scratch object left");
  });
});
