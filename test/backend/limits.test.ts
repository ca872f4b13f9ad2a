// The size limit is checked on what will be written, before writing: a commit can never store a
// revision that no reader may open, and verify reports such a revision instead of aborting.
import assert from "node:assert/strict";
import { test } from "node:test";
import { verifyStack } from "../../src/admin/index.js";
import { createBackend } from "../../src/backend/index.js";
import { noopEncrypter } from "../../src/crypto/index.js";
import type { Encrypter } from "../../src/crypto/types.js";
import { hasErrorCode } from "../../src/errors.js";
import { memoryStore } from "../../src/objectstore/memory.js";
import { encodeSnapshot, MAX_SNAPSHOT_BYTES, newSnapshot, type Snapshot } from "../../src/snapshot/index.js";

const factory = { name: "big", version: "1", contentRevision: "x" };

function withValue(value: string): Snapshot {
  const s = newSnapshot(factory, "prod");
  s.entries.push({ address: "blob", type: "leaf", kind: "test", inputs: { value } });
  return s;
}

for (const format of [1, 2] as const)
  test(`a commit whose encoding is over the limit is refused before anything is written (format ${format})`, async () => {
    const store = memoryStore();
    const backend = createBackend(store, {
      factory: "big",
      stack: "prod",
      encrypter: noopEncrypter(),
      format,
    });
    const rev = await backend.commit(withValue("small"));
    // 270 million two-byte UTF-8 characters: under the limit as a JS string, over it as bytes.
    const huge = withValue("é".repeat(270_000_000));
    await assert.rejects(backend.commit(huge), (e: unknown) => {
      assert.ok(hasErrorCode(e, "E_TOO_LARGE"), String(e));
      assert.match((e as Error).message, /over the 536870912-byte limit/);
      return true;
    });
    assert.deepEqual(await backend.list(), [rev], "nothing was written");
    assert.equal((await backend.current()).entries[0]?.inputs?.value, "small");
  });

test("encodeSnapshot refuses an encoding over maxBytes, counting UTF-8 bytes", () => {
  const s = withValue("é".repeat(1000));
  const size = encodeSnapshot(s).byteLength;
  assert.equal(encodeSnapshot(s, { maxBytes: size }).byteLength, size);
  assert.throws(
    () => encodeSnapshot(s, { maxBytes: size - 1 }),
    (e: unknown) => hasErrorCode(e, "E_TOO_LARGE"),
  );
  // Fewer characters than the limit, more bytes: the exact count decides.
  assert.throws(
    () => encodeSnapshot(s, { maxBytes: size - 500 }),
    (e: unknown) => hasErrorCode(e, "E_TOO_LARGE"),
  );
});

test("verify reports a revision too large to read as a problem, not an abort", async () => {
  const store = memoryStore();
  const plain = noopEncrypter();
  const writer = createBackend(store, { factory: "big", stack: "prod", encrypter: plain });
  const small = await writer.commit(withValue("small"));
  const tooBig = await writer.commit(withValue("pretend this one is huge"));
  // A reader whose encrypter yields more plaintext than any reader may decode, for one revision.
  const inflating: Encrypter = {
    ...plain,
    open: async (sealed, location) =>
      location.endsWith(tooBig) ? new Uint8Array(MAX_SNAPSHOT_BYTES + 1) : plain.open(sealed, location),
  };
  const reader = createBackend(store, { factory: "big", stack: "prod", encrypter: inflating });
  const report = await verifyStack(reader);
  assert.equal(report.ok, false);
  assert.deepEqual(
    report.problems.map((p) => [p.rev, p.code]),
    [[tooBig, "E_CORRUPT"]],
  );
  assert.equal(report.current, tooBig);
  assert.deepEqual(report.orphans, []);
  assert.ok(small < tooBig);
});
