// Locks held across requests on behalf of a client that names its own lock id (Terraform and
// OpenTofu through `statekeeper serve`): no lease, resumable from any process, fenced like any lock.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createBackend } from "../../src/backend/index.js";
import { noopEncrypter } from "../../src/crypto/index.js";
import { memoryStore } from "../../src/objectstore/memory.js";
import type { ObjectStore } from "../../src/objectstore/types.js";
import { newSnapshot } from "../../src/snapshot/index.js";
import { rejectsWithCode } from "../../src/testing/assertions.js";

// A pointer stack, whose fence is read from `current` below (the log's client locks are in
// the backend conformance suite and the protocol suite on log stacks).
const open = (store: ObjectStore) =>
  createBackend(store, { factory: "webshop", stack: "prod", encrypter: noopEncrypter(), head: "pointer" });
const snapshot = (tag: string) => ({
  ...newSnapshot({ name: "webshop", version: "1", contentRevision: tag }, "prod"),
});
const clientLock = (id: string, who = "alice") => ({
  id,
  leaseMs: null,
  wait: false,
  operation: "OperationTypeApply",
  holder: { user: who, host: "laptop", pid: 0 },
  info: { ID: id, Who: `${who}@laptop` },
});

async function fenceOf(store: ObjectStore): Promise<{ epoch: number; lock: string }> {
  const got = await store.get("webshop/prod/current");
  assert.ok(got, "current exists");
  return JSON.parse(new TextDecoder().decode(got.body)).fence;
}

test("a client lock has no lease, keeps what the client said, and taking it again with its id is success", async () => {
  const store = memoryStore();
  await open(store).lock(clientLock("tf-1"));
  const info = await open(store).lockInfo();
  assert.equal(info?.id, "tf-1");
  assert.equal(info?.leaseMs, 0, "no lease");
  assert.equal(info?.user, "alice");
  assert.deepEqual(info?.info, { ID: "tf-1", Who: "alice@laptop" });
  const fence = await fenceOf(store);
  assert.equal(fence.lock, "tf-1", "taking it fenced current");
  await open(store).lock(clientLock("tf-1"));
  assert.deepEqual(await fenceOf(store), fence, "a retried lock does not raise the fence again");
  const refused = await rejectsWithCode(open(store).lock(clientLock("tf-2", "bob")), "E_LOCKED");
  assert.match(refused.message, /alice@laptop/);
});

test("a lock without a lease is never taken over by a waiter", async () => {
  const store = memoryStore();
  await open(store).lock(clientLock("tf-1"));
  await rejectsWithCode(open(store).lock({ timeoutMs: 400, pollMs: 20 }), "E_LOCKED");
  assert.equal((await open(store).lockInfo())?.id, "tf-1");
});

test("any backend resumes the lock by its id and commits under it; a wrong id or a broken lock is refused", async () => {
  const store = memoryStore();
  await open(store).lock(clientLock("tf-1"));
  const b = open(store);
  await b.resumeLock("tf-1");
  const rev = await b.commit(snapshot("one"));
  assert.equal(await open(store).currentRev(), rev);
  const c = open(store);
  await c.resumeLock("tf-1");
  await c.commit(snapshot("two"));
  await rejectsWithCode(open(store).resumeLock("tf-other"), "E_LOCKED");
  await open(store).forceUnlock({ id: "tf-1" });
  const lost = await rejectsWithCode(open(store).resumeLock("tf-1"), "E_LOCK_LOST");
  assert.match(lost.message, /released, force-unlocked or expired/);
});

test("a holder that resumed, then was force-unlocked and replaced, is fenced out: its commit cannot land", async () => {
  const store = memoryStore();
  await open(store).lock(clientLock("tf-1"));
  const stale = open(store);
  await stale.resumeLock("tf-1");
  await stale.current().catch(() => undefined);
  await open(store).forceUnlock();
  await open(store).lock(clientLock("tf-2", "bob"));
  const next = open(store);
  await next.resumeLock("tf-2");
  const good = await next.commit(snapshot("bob"));
  await rejectsWithCode(stale.commit(snapshot("stale")), "E_FENCED");
  assert.equal(await open(store).currentRev(), good, "the successor's commit stays current");
});

test("forceUnlock with an id removes only that lock; a leased lock cannot be resumed", async () => {
  const store = memoryStore();
  await open(store).lock(clientLock("tf-1"));
  const refused = await rejectsWithCode(open(store).forceUnlock({ id: "tf-2" }), "E_LOCKED");
  assert.match(refused.message, /alice/);
  assert.equal((await open(store).lockInfo())?.id, "tf-1", "still held");
  assert.equal((await open(store).forceUnlock({ id: "tf-1" }))?.id, "tf-1");
  assert.equal(await open(store).forceUnlock({ id: "tf-1" }), undefined, "already gone: nothing to remove");
  const leased = await open(store).lock({ leaseMs: 5_000 });
  try {
    await rejectsWithCode(open(store).resumeLock(leased.id), "E_INVALID_ARGUMENT");
  } finally {
    await leased.unlock();
  }
});

test("lock options are checked before any write", async () => {
  const store = memoryStore();
  await rejectsWithCode(open(store).lock({ ...clientLock(""), id: "" }), "E_INVALID_ARGUMENT");
  await rejectsWithCode(
    open(store).lock({ ...clientLock("x"), info: { big: "x".repeat(20_000) } }),
    "E_INVALID_ARGUMENT",
  );
  assert.equal(await store.get("webshop/prod/lock"), undefined);
});
