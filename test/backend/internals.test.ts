// The admin operations are off the public Backend: reachable through backendInternals() only,
// and not from the package root. A backend without an encrypter handles metadata only.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type Backend, createBackend } from "../../src/backend/index.js";
import { backendInternals } from "../../src/backend/internals.js";
import { keyEncrypter } from "../../src/crypto/index.js";
import * as root from "../../src/index.js";
import { memoryStore } from "../../src/objectstore/memory.js";
import { recordingStore } from "../../src/testing/store-decorators.js";
import { commitRevisions, newKey, open, rejectsWith, snapshot } from "../admin/support.js";

describe("backend internals", () => {
  it("are not on the backend object nor exported from the package root", () => {
    const backend = createBackend(memoryStore(), { factory: "f", stack: "s", encrypter: newKey() });
    for (const name of ["currentPointer", "revisions", "readSealed", "importRevision"])
      assert.equal(name in backend, false, `${name} is not a public member`);
    for (const name of ["backendInternals", "registerBackendInternals", "listStacks"])
      assert.equal(name in root, false, `${name} is not exported from the package root`);
  });

  it("reach the pointer, the listing and the sealed bytes of a backend made by createBackend", async () => {
    const key = newKey();
    const backend = open(memoryStore(), key);
    const revs = await commitRevisions(backend, 2);
    const internals = backendInternals(backend);
    assert.equal(internals.encrypter, key);
    assert.equal((await internals.currentPointer())?.rev, revs[1]);
    assert.deepEqual(
      (await internals.revisions()).map((r) => r.rev),
      revs,
    );
    assert.equal(
      await key
        .open(await internals.readSealed(revs[0] as string), `webshop/prod/snapshots/${revs[0]}`)
        .then(() => true),
      true,
    );
  });

  it("refuse a Backend that createBackend did not make", async () => {
    const real = open(memoryStore(), newKey());
    const wrapper = { ...real } as Backend;
    assert.throws(() => backendInternals(wrapper), /needs a backend made by createBackend/);
  });
});

describe("a backend without an encrypter", () => {
  it("reads metadata and manages locks, but refuses before any I/O to open or seal a snapshot", async () => {
    const inner = memoryStore();
    const revs = await commitRevisions(open(inner, keyEncrypter({ key: new Uint8Array(32).fill(7) })), 2);
    const { store, calls } = recordingStore(inner);
    const bare = open(store);
    assert.equal(await bare.currentRev(), revs[1]);
    assert.deepEqual(await bare.list(), revs);
    const history = await bare.history();
    assert.deepEqual(
      history.revisions.map((r) => [r.rev, r.current]),
      [
        [revs[0], false],
        [revs[1], true],
      ],
    );
    const lock = await bare.lock({ operation: "maintenance" });
    assert.equal((await bare.lockInfo())?.operation, "maintenance");
    assert.equal(await lock.unlock(), true);

    const before = calls.length;
    for (const call of [
      () => bare.current(),
      () => bare.get(revs[0] as string),
      () => bare.readRevision(revs[0] as string),
      () => bare.write(snapshot(["x"])),
      () => bare.commit(snapshot(["x"])),
      () => bare.history({ open: true }),
    ]) {
      const err = await rejectsWith(call(), "E_INVALID_CONFIG");
      assert.match(err.message, /created without an encrypter/);
    }
    assert.equal(calls.length, before, "nothing was read or written");
    assert.deepEqual(await bare.list(), revs);
  });

  it("createBackend still refuses something that is not an encrypter", () => {
    assert.throws(
      () => createBackend(memoryStore(), { factory: "f", stack: "s", encrypter: {} as never }),
      /encrypter is not an Encrypter/,
    );
  });
});
