import assert from "node:assert/strict";
import { test } from "node:test";
import {
  generateKey,
  inspectEnvelope,
  keyEncrypter,
  keyFingerprint,
  passphraseEncrypter,
} from "../../src/crypto/index.js";
import { scryptRunCount } from "../../src/crypto/passphrase.js";
import { LOCATION, rejection, TEST_COST, text, thrown } from "./helpers.js";

const ENV = "STATEKEEPER_TEST_KEY";
const fromEnv = (value: string | undefined) => () => keyEncrypter({ envVar: ENV, env: { [ENV]: value } });

test("generateKey gives distinct base64 encodings of 32 bytes", () => {
  const a = generateKey();
  assert.equal(Buffer.from(a, "base64").length, 32);
  assert.equal(Buffer.from(a, "base64").toString("base64"), a);
  assert.notEqual(a, generateKey());
});

test("the key id is a fingerprint of the key, the same however the key is supplied", () => {
  const b64 = generateKey();
  const direct = keyEncrypter({ key: Buffer.from(b64, "base64") });
  const env = fromEnv(b64)();
  assert.match(direct.keyId, /^key:[0-9a-f]{16}$/);
  assert.equal(direct.keyId, env.keyId);
  assert.equal(direct.keyId, keyFingerprint(Buffer.from(b64, "base64")));
  assert.notEqual(direct.keyId, fromEnv(generateKey())().keyId);
  assert.equal(env.hint, `env ${ENV}`);
  assert.equal(direct.hint, undefined);
});

test("env var unset or empty → E_INVALID_CONFIG naming the variable", () => {
  for (const value of [undefined, ""]) {
    const error = thrown(fromEnv(value), "E_INVALID_CONFIG");
    assert.match(error.message, new RegExp(`${ENV} is not set`));
  }
  const saved = process.env[ENV];
  delete process.env[ENV];
  try {
    thrown(() => keyEncrypter({ envVar: ENV }), "E_INVALID_CONFIG");
  } finally {
    if (saved !== undefined) process.env[ENV] = saved;
  }
});

test("env var that is not strict base64 → E_INVALID_CONFIG, without echoing the value", () => {
  const valid = generateKey();
  for (const value of [
    "not base64 at all!",
    `${valid.slice(0, 10)}$${valid.slice(11)}`,
    valid.replace(/\+|\//g, "-").replace(/=/g, "") + "-_",
    `${valid.slice(0, 20)} ${valid.slice(20)}`,
    valid.slice(1),
  ]) {
    const error = thrown(fromEnv(value), "E_INVALID_CONFIG");
    assert.match(error.message, /not valid base64/);
    assert.ok(!error.message.includes(value));
  }
});

test("env var of the wrong length → E_INVALID_CONFIG saying how many bytes were found", () => {
  for (const bytes of [1, 16, 31, 33, 64]) {
    const value = Buffer.alloc(bytes, 9).toString("base64");
    const error = thrown(fromEnv(value), "E_INVALID_CONFIG");
    assert.match(error.message, new RegExp(`decodes to ${bytes} bytes`));
    assert.ok(!error.message.includes(value));
  }
  thrown(() => keyEncrypter({ key: new Uint8Array(31) }), "E_INVALID_CONFIG");
  thrown(() => keyEncrypter({ key: "x".repeat(32) as unknown as Uint8Array }), "E_INVALID_CONFIG");
  thrown(() => keyEncrypter({ envVar: "NOT-A-NAME" }), "E_INVALID_CONFIG");
  thrown(() => keyEncrypter({} as unknown as { key: Uint8Array }), "E_INVALID_CONFIG");
});

test("surrounding whitespace (a trailing newline) in the env var is forgiven", async () => {
  const value = generateKey();
  const e = fromEnv(`${value}\n`)();
  assert.equal(e.keyId, fromEnv(value)().keyId);
});

test("the key is copied at construction: mutating the caller's buffer changes nothing", async () => {
  const key = new Uint8Array(32).fill(5);
  const e = keyEncrypter({ key });
  const sealed = await e.seal(text("x"), LOCATION);
  key.fill(6);
  assert.deepEqual(await e.open(sealed, LOCATION), text("x"));
});

test("passphrases under 16 characters are refused without echoing them", () => {
  for (const passphrase of ["", "short", "fifteen chars!!", "🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑"]) {
    const error = thrown(() => passphraseEncrypter({ passphrase, cost: TEST_COST }), "E_INVALID_CONFIG");
    if (passphrase !== "") assert.ok(!error.message.includes(passphrase));
  }
  passphraseEncrypter({ passphrase: "sixteen chars!!!", cost: TEST_COST });
  thrown(() => passphraseEncrypter({ passphrase: "a".repeat(20), cost: 9 }), "E_INVALID_CONFIG");
  thrown(() => passphraseEncrypter({ passphrase: "a".repeat(20), cost: 21 }), "E_INVALID_CONFIG");
  thrown(() => passphraseEncrypter({ passphrase: "a".repeat(20), label: "no spaces" }), "E_INVALID_CONFIG");
});

test("the default scrypt cost is N=2^17, r=8, p=1, recorded in the header", async () => {
  const e = passphraseEncrypter({ passphrase: "the default cost passphrase" });
  const sealed = await e.seal(text("x"), LOCATION);
  const { kdf } = inspectEnvelope(sealed);
  assert.deepEqual(
    { name: kdf?.name, N: kdf?.N, r: kdf?.r, p: kdf?.p },
    { name: "scrypt", N: 2 ** 17, r: 8, p: 1 },
  );
  assert.deepEqual(await e.open(sealed, LOCATION), text("x"));
});

test("the passphrase key id carries nothing derived from the passphrase", async () => {
  const a = passphraseEncrypter({ passphrase: "first passphrase, quite long", cost: TEST_COST });
  const b = passphraseEncrypter({ passphrase: "second passphrase, quite long", cost: TEST_COST });
  assert.equal(a.keyId, "passphrase");
  assert.equal(b.keyId, "passphrase");
  assert.equal(
    passphraseEncrypter({ passphrase: "x".repeat(16), label: "2026", cost: TEST_COST }).keyId,
    "passphrase:2026",
  );
  // The key-check value depends on the per-instance salt, so the same passphrase never gives
  // the same header value twice (nothing to precompute).
  const again = passphraseEncrypter({ passphrase: "first passphrase, quite long", cost: TEST_COST });
  const checkA = inspectEnvelope(await a.seal(text("x"), LOCATION)).kdf?.check;
  const checkAgain = inspectEnvelope(await again.seal(text("x"), LOCATION)).kdf?.check;
  assert.notEqual(checkA, checkAgain);
});

test("a wrong passphrase fails with E_DECRYPT saying the passphrase does not match", async () => {
  const a = passphraseEncrypter({ passphrase: "first passphrase, quite long", cost: TEST_COST });
  const b = passphraseEncrypter({ passphrase: "second passphrase, quite long", cost: TEST_COST });
  const error = await rejection(b.open(await a.seal(text("x"), LOCATION), LOCATION), "E_DECRYPT");
  assert.match(error.message, /passphrase does not match/);
});

test("derived keys are cached by salt and parameters: scrypt runs once per salt", async () => {
  const passphrase = "a cached passphrase for tests";
  const writer = passphraseEncrypter({ passphrase, cost: TEST_COST });
  const start = scryptRunCount();
  const sealed = [];
  for (let i = 0; i < 20; i++) sealed.push(await writer.seal(text(`snapshot ${i}`), LOCATION));
  for (const s of sealed) await writer.open(s, LOCATION);
  assert.equal(scryptRunCount() - start, 1, "one derivation for 20 seals and 20 opens");

  const other = passphraseEncrypter({ passphrase, cost: TEST_COST });
  const fromOther = await Promise.all([1, 2, 3].map((i) => other.seal(text(`o${i}`), LOCATION)));
  assert.equal(scryptRunCount() - start, 2, "concurrent seals share one derivation");
  for (const s of fromOther)
    assert.deepEqual(await writer.open(s, LOCATION), text(`o${fromOther.indexOf(s) + 1}`));
  assert.equal(scryptRunCount() - start, 3, "opening another salt derives once, then caches");
});
