// The probe's verdict under lost responses (never a "no" caused by a fault, never a remembered
// one), and its sweep of scratch objects left by probes that were killed, on the generic probe
// (file and memory stores) and as the pure age decision every driver's probe shares.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { hasErrorCode } from "../../src/errors.js";
import { fileStore } from "../../src/objectstore/file.js";
import { memoryStore } from "../../src/objectstore/memory.js";
import {
  PROBE_PREFIX,
  probeConditionalRequests,
  STALE_PROBE_AGE_MS,
  staleProbeKeys,
  storeCapabilities,
} from "../../src/objectstore/probe.js";
import type { ObjectInfo, ObjectStore } from "../../src/objectstore/types.js";
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
const bytes = (s: string) => new TextEncoder().encode(s);
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

describe("stale probe objects", () => {
  const at = (iso: string) => new Date(iso);
  const object = (key: string, lastModified?: Date): ObjectInfo => ({
    key,
    size: 7,
    etag: '"e"',
    ...(lastModified === undefined ? {} : { lastModified }),
  });

  test("are judged by the store's clock: older than 10 minutes before the probe's own object", () => {
    // A store whose clock is years behind the local one: by the local clock every object here
    // would look stale; by the store's own clock only the first is.
    const own = `${PROBE_PREFIX}own`;
    const listing = [
      object(`${PROBE_PREFIX}a-killed-probe`, at("2001-01-01T11:49:59Z")),
      object(`${PROBE_PREFIX}b-slow-probe`, at("2001-01-01T11:50:01Z")),
      object(`${PROBE_PREFIX}c-later-probe`, at("2001-01-01T12:00:05Z")),
      object(`${PROBE_PREFIX}d-no-time`),
      object(own, at("2001-01-01T12:00:00Z")),
    ];
    assert.equal(STALE_PROBE_AGE_MS >= 10 * 60_000, true);
    assert.deepEqual(staleProbeKeys(listing, own, STALE_PROBE_AGE_MS), [`${PROBE_PREFIX}a-killed-probe`]);
    assert.deepEqual(staleProbeKeys(listing.slice(0, 4), own, STALE_PROBE_AGE_MS), [], "own time unknown");
    assert.deepEqual(
      staleProbeKeys([object(own)], own, STALE_PROBE_AGE_MS),
      [],
      "own object without a time: nothing is judged",
    );
  });

  test("file store: a probe removes scratch objects of killed probes older than 10 minutes, keeps younger ones", async () => {
    const root = join(base, `root-${++counter}`);
    const store = fileStore(root);
    const killed = `${PROBE_PREFIX}0123456789abcdef`;
    const recent = `${PROBE_PREFIX}fedcba9876543210`;
    await store.put(killed, bytes("probe-1"));
    await store.put(recent, bytes("probe-4"));
    await store.put("f/s/current", bytes("not a probe object"));
    const backdate = (key: string, ms: number) => {
      const when = new Date(Date.now() - ms);
      utimesSync(join(root, ...key.split("/")), when, when);
    };
    backdate(killed, 11 * 60_000);
    backdate(recent, 9 * 60_000);
    backdate("f/s/current", 60 * 60_000);

    const caps = await store.probe();
    assert.deepEqual(await keys(store, PROBE_PREFIX), [recent], "the killed probe's object is gone");
    assert.deepEqual(await keys(store, "f/"), ["f/s/current"], "nothing outside the probe prefix is touched");
    assert.ok(
      caps.notes.includes("probe: removed 1 scratch object(s) left by interrupted probes"),
      caps.notes.join("; "),
    );
    assert.equal(caps.createOnly, true);
  });
});
