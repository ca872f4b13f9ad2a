// The S3 probe on the real server, through the fault proxy: a lost response never turns into
// "the store ignores preconditions" (the probe resolves its own writes by their write id, and
// does not trust a "no" seen during a transport failure), nothing unsettled is ever cached, and
// scratch objects of probes that were killed are swept, judged by the store's clock.
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { createBackend } from "../../src/backend/backend.js";
import { noopEncrypter } from "../../src/crypto/noop.js";
import { hasErrorCode } from "../../src/errors.js";
import { PROBE_PREFIX, storeCapabilities } from "../../src/objectstore/probe.js";
import type { ObjectStore } from "../../src/objectstore/types.js";
import { isStoreError } from "../../src/objectstore/types.js";
import { FACTORY, stampedSnapshot } from "../fixtures/backend/common.js";
import { type FaultProxy, startFaultProxy } from "../support/fault-proxy.js";
import { makeS3Store, randomS3Prefix, s3TestEnv } from "../support/s3.js";

let proxy: FaultProxy;
before(async () => {
  proxy = await startFaultProxy({ target: s3TestEnv().endpoint });
});
after(() => proxy.close());
beforeEach(() => proxy.reset());

const probeRequests = /\.statekeeper-probe\//;
const bytes = (s: string) => new TextEncoder().encode(s);
const store = (opts: { prefix?: string; probeStaleAfterMs?: number } = {}) =>
  makeS3Store({ endpoint: proxy.endpoint, maxAttempts: 4, retryBaseDelayMs: 5, ...opts });

async function keys(s: ObjectStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of s.list(prefix)) out.push(o.key);
  return out;
}

/** No note blames create-only or compare-and-swap: each of their writes was resolved exactly. */
function assertWritesResolved(notes: readonly string[]): void {
  const why = notes.join("; ");
  assert.ok(notes.includes("create-only: honoured"), why);
  assert.ok(
    notes.some((n) => n.startsWith("compare-and-swap: honoured")),
    why,
  );
  assert.ok(!notes.some((n) => /"no" for .*(create-only|compare-and-swap)/.test(n)), why);
}

describe("s3 probe: a lost response never refuses a working store", () => {
  it("the response to the probe's create-only PUT is lost: both honoured, and a backend on the store commits", async () => {
    const s = await store();
    proxy.dropResponse({ method: "PUT", path: probeRequests });
    const backend = createBackend(s, { factory: FACTORY, stack: "s", encrypter: noopEncrypter() });
    const lock = await backend.lock({ operation: "apply" });
    const rev = await backend.commit(
      stampedSnapshot("s", { seq: 1, parent: "", writer: process.pid, tag: "after-lost-probe" }, 32),
    );
    assert.equal(await lock.unlock(), true);
    assert.equal(await backend.currentRev(), rev);
    assert.ok(
      proxy.log.some((e) => e.fault === "dropped-response" && probeRequests.test(e.path)),
      "a probe response was really lost",
    );
    const caps = await storeCapabilities(s);
    assert.equal(caps.createOnly, true, caps.notes.join("; "));
    assert.equal(caps.compareAndSwap, true, caps.notes.join("; "));
    assertWritesResolved(caps.notes);
    assert.deepEqual(await keys(s, PROBE_PREFIX), [], "no scratch object left");
  });

  it("the response to the probe's conditional DELETE is lost: create-only and compare-and-swap honoured", async () => {
    const s = await store();
    proxy.dropResponse({ method: "DELETE", path: probeRequests });
    const caps = await s.probe();
    assert.equal(caps.createOnly, true, caps.notes.join("; "));
    assert.equal(caps.compareAndSwap, true, caps.notes.join("; "));
    assert.equal(caps.conditionalDelete, s3TestEnv().conditionalDelete, caps.notes.join("; "));
    assert.ok(proxy.log.some((e) => e.fault === "dropped-response"));
  });

  it("every probe PUT loses its response (no answer ever arrives): a retryable E_UNAVAILABLE, never cached", async () => {
    const s = await store();
    proxy.dropResponse({ method: "PUT", path: probeRequests }, 1_000);
    await assert.rejects(
      storeCapabilities(s),
      (e: unknown) => hasErrorCode(e, "E_UNAVAILABLE") && isStoreError(e) && e.retryable,
    );
    assert.ok(proxy.count({ method: "PUT" }) >= 6, "the probe's PUTs went through the proxy");
    proxy.reset();
    const caps = await storeCapabilities(s);
    assert.equal(caps.createOnly, true, caps.notes.join("; "));
    assert.equal(caps.compareAndSwap, true, caps.notes.join("; "));
    assert.deepEqual(await keys(s, PROBE_PREFIX), [], "no scratch object left");
  });
});

describe("s3 probe: throttling is an answer, not a lost response", () => {
  it("429 and 503 SlowDown on every other probe request: the verdict stands after one run", async () => {
    const s = await store();
    proxy.failEvery(2, "slowdown", { path: probeRequests });
    const caps = await s.probe();
    assert.ok(
      proxy.log.some((e) => e.fault === "slowdown"),
      "requests were throttled",
    );
    assert.equal(caps.createOnly, true, caps.notes.join("; "));
    assert.equal(caps.compareAndSwap, true, caps.notes.join("; "));
    assert.ok(!caps.notes.some((n) => n.startsWith("probe: run")), caps.notes.join("; "));
    proxy.reset();
    proxy.failEvery(3, "too-many-requests", { path: probeRequests });
    const again = await (await store()).probe();
    assert.equal(again.createOnly, true, again.notes.join("; "));
    assert.ok(!again.notes.some((n) => n.startsWith("probe: run")), again.notes.join("; "));
  });
});

describe("s3 probe: scratch objects of killed probes", () => {
  it("are removed when older than the threshold by the store's clock; younger ones are kept", async () => {
    const prefix = randomS3Prefix("probe-sweep");
    // Objects cannot be backdated on S3: a 2 s threshold (internal option) stands in for 10 min.
    const s = await store({ prefix, probeStaleAfterMs: 2_000 });
    const killed = `${PROBE_PREFIX}0123456789abcdef`;
    const recent = `${PROBE_PREFIX}fedcba9876543210`;
    await s.put(killed, bytes("probe-1"));
    await s.put("f/s/current", bytes("not a probe object"));
    await sleep(3_500);
    await s.put(recent, bytes("probe-1"));
    const caps = await s.probe();
    assert.deepEqual(await keys(s, PROBE_PREFIX), [recent]);
    assert.deepEqual(await keys(s, "f/"), ["f/s/current"]);
    assert.ok(
      caps.notes.includes("probe: removed 1 scratch object(s) left by interrupted probes"),
      caps.notes.join("; "),
    );
    assert.ok(
      proxy.log.some((e) => e.method === "DELETE" && e.path.includes("0123456789abcdef")),
      "deleted through the store",
    );
  });

  it("with the default threshold (10 minutes), a probe leaves fresh scratch objects alone", async () => {
    const s = await store();
    const other = `${PROBE_PREFIX}00000000000000aa`;
    await s.put(other, bytes("probe-1"));
    await s.probe();
    assert.deepEqual(await keys(s, PROBE_PREFIX), [other]);
  });
});
