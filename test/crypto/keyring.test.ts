import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import {
  type Encrypter,
  generateKey,
  inspectEnvelope,
  keyEncrypter,
  keyring,
  noopEncrypter,
  passphraseEncrypter,
} from "../../src/crypto/index.js";
import { StateKeeperError } from "../../src/errors.js";
import { craftEnvelope, LOCATION, rejection, TEST_COST, text, thrown } from "./helpers.js";

const envKey = (name: string) => keyEncrypter({ envVar: name, env: { [name]: generateKey() } });

test("rotation: old files open through a fallback, new seals use the primary", async () => {
  const old = envKey("OLD_KEY");
  const current = envKey("NEW_KEY");
  const oldFile = await old.seal(text("old"), LOCATION);
  const ring = keyring(current, old);
  assert.equal(ring.keyId, current.keyId);
  assert.equal(ring.hint, "env NEW_KEY");
  assert.deepEqual(ring.readableKeyIds, [current.keyId, old.keyId]);
  assert.deepEqual(await ring.open(oldFile, LOCATION), text("old"));
  const newFile = await ring.seal(text("new"), LOCATION);
  assert.equal(inspectEnvelope(newFile).keyId, current.keyId);
  assert.equal(inspectEnvelope(newFile).hint, "env NEW_KEY");
  // Once rotated, the new file opens without the old key.
  assert.deepEqual(await current.open(newFile, LOCATION), text("new"));
  await rejection(old.open(newFile, LOCATION), "E_DECRYPT");
});

test("a file sealed with a key outside the ring → E_DECRYPT naming the sealing key and every held id", async () => {
  const a = envKey("KEY_A");
  const b = envKey("KEY_B");
  const stranger = envKey("STRANGER_KEY");
  const ring = keyring(a, b);
  const error = await rejection(ring.open(await stranger.seal(text("x"), LOCATION), LOCATION), "E_DECRYPT");
  for (const expected of [stranger.keyId, "env STRANGER_KEY", a.keyId, b.keyId]) {
    assert.ok(error.message.includes(expected), `${expected} missing from: ${error.message}`);
  }
  assert.equal(error.details.sealedWith, stranger.keyId);
  assert.deepEqual(error.details.heldKeyIds, [a.keyId, b.keyId]);
});

test("the header only selects among configured keys: a forged unencrypted file is refused", async () => {
  const a = envKey("KEY_A");
  const ring = keyring(a);
  const noopFile = await noopEncrypter().seal(text("noop"), LOCATION);
  await rejection(ring.open(noopFile, LOCATION), "E_DECRYPT");
  assert.deepEqual(await keyring(a, noopEncrypter()).open(noopFile, LOCATION), text("noop"));
  // An algorithm "none" envelope claiming a's key id, with a valid digest, must not downgrade a.
  const body = text("forged");
  const nonce = Buffer.alloc(12).toString("base64");
  const sha256 = createHash("sha256").update(Buffer.alloc(12)).update(body).digest("hex");
  const forged = craftEnvelope(
    JSON.stringify({ algorithm: "none", keyId: a.keyId, nonce, location: LOCATION, sha256 }),
    body,
  );
  assert.equal(inspectEnvelope(forged).keyId, a.keyId);
  await rejection(ring.open(forged, LOCATION), "E_DECRYPT");
});

test("several passphrases share a key id: each is tried, and a mismatch says so", async () => {
  const first = passphraseEncrypter({ passphrase: "the first rotation passphrase", cost: TEST_COST });
  const second = passphraseEncrypter({ passphrase: "the second rotation passphrase", cost: TEST_COST });
  const oldFile = await first.seal(text("old"), LOCATION);
  assert.deepEqual(await keyring(second, first).open(oldFile, LOCATION), text("old"));
  const third = passphraseEncrypter({ passphrase: "the third rotation passphrase", cost: TEST_COST });
  const error = await rejection(keyring(second, third).open(oldFile, LOCATION), "E_DECRYPT");
  assert.match(error.message, /passphrase does not match/);
});

test("keyrings nest, and list every readable key id once", async () => {
  const a = envKey("A");
  const b = envKey("B");
  const c = envKey("C");
  const inner = keyring(b, c);
  const ring = keyring(a, inner, c);
  assert.deepEqual(ring.readableKeyIds, [a.keyId, b.keyId, c.keyId]);
  assert.deepEqual(await ring.open(await c.seal(text("c"), LOCATION), LOCATION), text("c"));
});

test("non-decrypt failures of a member are not masked by trying the next one", async () => {
  const a = envKey("A");
  const failing: Encrypter = {
    keyId: a.keyId,
    readableKeyIds: [a.keyId],
    seal: a.seal,
    open: () => Promise.reject(new StateKeeperError("E_UNAVAILABLE", "KMS is down")),
  };
  const file = await a.seal(text("x"), LOCATION);
  await rejection(keyring(failing, a).open(file, LOCATION), "E_UNAVAILABLE");
  await rejection(keyring(a).open(Uint8Array.from([1, 2, 3]), LOCATION), "E_CORRUPT");
});

test("keyring members must be encrypters", () => {
  thrown(() => keyring({} as Encrypter), "E_INVALID_CONFIG");
  thrown(() => keyring(envKey("A"), undefined as unknown as Encrypter), "E_INVALID_CONFIG");
});
