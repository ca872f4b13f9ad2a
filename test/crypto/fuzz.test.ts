import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  type Encrypter,
  inspectEnvelope,
  keyEncrypter,
  noopEncrypter,
  passphraseEncrypter,
} from "../../src/crypto/index.js";
import { isStateKeeperError } from "../../src/errors.js";
import { craftEnvelope, LOCATION, TEST_COST, text } from "./helpers.js";

const encrypters: Encrypter[] = [
  noopEncrypter(),
  keyEncrypter({ key: new Uint8Array(32).fill(11) }),
  passphraseEncrypter({ passphrase: "a passphrase for fuzzing tests", cost: TEST_COST }),
];

/** Runs `open` and `inspectEnvelope`; anything thrown must be a StateKeeperError. Returns opened bytes. */
async function probe(e: Encrypter, bytes: Uint8Array): Promise<Uint8Array | undefined> {
  try {
    inspectEnvelope(bytes);
  } catch (err) {
    assert.ok(isStateKeeperError(err), `inspectEnvelope threw a foreign error: ${String(err)}`);
  }
  try {
    return await e.open(bytes, LOCATION);
  } catch (err) {
    assert.ok(isStateKeeperError(err), `open threw a foreign error: ${String(err)}`);
    return undefined;
  }
}

test("random bytes (with and without the magic prefix): only StateKeeperErrors escape", async () => {
  const bytes = fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    fc
      .tuple(fc.constantFrom(0, 1, 2), fc.uint8Array({ maxLength: 300 }))
      .map(([version, rest]) => Uint8Array.from([...text("SKSEAL"), version, ...rest])),
  );
  for (const e of encrypters) {
    await fc.assert(
      fc.asyncProperty(bytes, async (b) => {
        assert.equal(await probe(e, b), undefined);
      }),
      { numRuns: 300 },
    );
  }
});

test("mutated sealed files: never open to anything but the original, only StateKeeperErrors escape", async () => {
  const plaintext = text('{"entries":[]}');
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant("set" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
    fc.record({
      kind: fc.constant("insert" as const),
      at: fc.nat(),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
    }),
  );
  for (const e of encrypters) {
    const sealed = await e.seal(plaintext, LOCATION);
    await fc.assert(
      fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 4 }), async (mutations) => {
        const bytes = [...sealed];
        for (const m of mutations) {
          const at = m.at % (bytes.length + 1);
          if (m.kind === "set") bytes[at % bytes.length] = m.value;
          else if (m.kind === "delete") bytes.splice(at, m.count);
          else bytes.splice(at, 0, ...m.bytes);
        }
        const mutated = Uint8Array.from(bytes);
        const opened = await probe(e, mutated);
        if (opened !== undefined) {
          assert.deepEqual(mutated, sealed, "only an unchanged file may open");
          assert.deepEqual(opened, plaintext);
        }
      }),
      { numRuns: 300 },
    );
  }
});

test("arbitrary JSON headers: inspectEnvelope and open throw only StateKeeperErrors", async () => {
  const field = fc.constantFrom(
    "algorithm",
    "keyId",
    "hint",
    "kdf",
    "kmsKeyId",
    "wrappedKey",
    "nonce",
    "location",
    "sha256",
  );
  const value = fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    fc.constantFrom("AES-256-GCM", "none", "AAAAAAAAAAAAAAAA", "key:0b0b0b0b0b0b0b0b", LOCATION),
    fc.record({
      name: fc.constantFrom("scrypt", "x"),
      N: fc.constantFrom(2, 1024, 1023, -1, 2 ** 40),
      r: fc.integer({ min: -1, max: 20 }),
      p: fc.integer({ min: -1, max: 3 }),
      salt: fc.constantFrom("AAAAAAAAAAAAAAAAAAAAAA==", "x"),
      check: fc.constantFrom("0123456789abcdef", ""),
    }),
  );
  const header = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.dictionary(field, value, { maxKeys: 9 }));
  for (const e of encrypters) {
    await fc.assert(
      fc.asyncProperty(header, fc.uint8Array({ maxLength: 40 }), async (h, body) => {
        const json = JSON.stringify(h) ?? "null";
        await probe(e, craftEnvelope(json, body));
      }),
      { numRuns: 300 },
    );
  }
});
