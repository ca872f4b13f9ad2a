import assert from "node:assert/strict";
import { test } from "node:test";
import { inspectEnvelope, keyEncrypter, MAX_HEADER_BYTES, noopEncrypter } from "../../src/crypto/index.js";
import { craftEnvelope, LOCATION, rejection, text, thrown } from "./helpers.js";

const key = keyEncrypter({ key: new Uint8Array(32).fill(3) });
const NONCE = "AAAAAAAAAAAAAAAA";

test("the envelope starts with SKSEAL, version 1 and a big-endian header length", async () => {
  const sealed = await key.seal(text("hello"), LOCATION);
  assert.equal(Buffer.from(sealed.subarray(0, 6)).toString("ascii"), "SKSEAL");
  assert.equal(sealed[6], 1);
  const headerLength = new DataView(sealed.buffer, sealed.byteOffset).getUint32(7, false);
  const header = JSON.parse(Buffer.from(sealed.subarray(11, 11 + headerLength)).toString("utf8"));
  assert.deepEqual(Object.keys(header), ["algorithm", "keyId", "nonce"]);
  assert.equal(header.algorithm, "AES-256-GCM");
  // ciphertext (same length as the plaintext) followed by the 16-byte tag
  assert.equal(sealed.length, 11 + headerLength + 5 + 16);
  const info = inspectEnvelope(sealed);
  assert.deepEqual(
    { version: info.version, keyId: info.keyId, headerBytes: info.headerBytes, bodyBytes: info.bodyBytes },
    { version: 1, keyId: key.keyId, headerBytes: headerLength, bodyBytes: 21 },
  );
});

test("an unknown envelope version is E_FORMAT_VERSION, before anything else is read", async () => {
  const sealed = await key.seal(text("hello"), LOCATION);
  for (const version of [0, 2, 255]) {
    const other = Uint8Array.from(sealed);
    other[6] = version;
    const error = thrown(() => inspectEnvelope(other), "E_FORMAT_VERSION");
    assert.equal(error.details.version, version);
    await rejection(key.open(other, LOCATION), "E_FORMAT_VERSION");
  }
  thrown(() => inspectEnvelope(craftEnvelope("garbage", new Uint8Array(), 9)), "E_FORMAT_VERSION");
});

test("malformed envelopes are E_CORRUPT", () => {
  const corrupt = (bytes: Uint8Array, why: string) => {
    const error = thrown(() => inspectEnvelope(bytes), "E_CORRUPT");
    assert.ok(error.message.length < 400, why);
  };
  corrupt(new Uint8Array(), "empty");
  corrupt(text("SKSEA"), "short magic");
  corrupt(text('{"format-version":1}'), "plain JSON");
  corrupt(text("SKSEAL\x01\x00\x00"), "truncated length");
  const huge = craftEnvelope("{}");
  new DataView(huge.buffer).setUint32(7, MAX_HEADER_BYTES + 1, false);
  corrupt(huge, "header length over the cap");
  const lying = craftEnvelope("{}");
  new DataView(lying.buffer).setUint32(7, 0xffffffff, false);
  corrupt(lying, "header length beyond the file");
  corrupt(craftEnvelope("{not json"), "bad JSON");
  corrupt(craftEnvelope("[]"), "array header");
  corrupt(craftEnvelope('"x"'), "string header");
  const good = { algorithm: "AES-256-GCM", keyId: "key:00", nonce: NONCE };
  const header = (h: Record<string, unknown>) => craftEnvelope(JSON.stringify(h));
  inspectEnvelope(header(good));
  corrupt(header({ ...good, extra: 1 }), "unknown field");
  corrupt(header({ ...good, algorithm: "ROT13" }), "unknown algorithm");
  corrupt(header({ ...good, keyId: "" }), "empty key id");
  corrupt(header({ ...good, keyId: 7 }), "numeric key id");
  corrupt(header({ ...good, nonce: "AAAA" }), "short nonce");
  corrupt(header({ ...good, nonce: "AAAAAAAAAAAAAAA-" }), "non-base64 nonce");
  corrupt(header({ algorithm: "AES-256-GCM", keyId: "k" }), "missing nonce");
  corrupt(header({ ...good, location: "x" }), "location on an encrypted envelope");
  corrupt(header({ ...good, kmsKeyId: "arn" }), "kmsKeyId without a wrapped key");
  corrupt(craftEnvelope(JSON.stringify(good), new Uint8Array(15)), "body shorter than the tag");
  corrupt(craftEnvelope(JSON.stringify(good, null, 1)), "non-canonical whitespace");
  corrupt(
    craftEnvelope(JSON.stringify({ keyId: "key:00", algorithm: "AES-256-GCM", nonce: NONCE })),
    "field order",
  );
  corrupt(
    craftEnvelope('{"algorithm":"AES-256-GCM","keyId":"key:\\u0030","nonce":"AAAAAAAAAAAAAAAA"}'),
    "escapes",
  );
  corrupt(
    craftEnvelope('{"algorithm":"AES-256-GCM","keyId":"a","keyId":"b","nonce":"AAAAAAAAAAAAAAAA"}'),
    "dup",
  );
  const bad = Uint8Array.from(craftEnvelope(JSON.stringify(good)));
  bad[12] = 0xff;
  corrupt(bad, "invalid UTF-8");
});

test("scrypt parameters in a header are bounded, so a hostile file cannot make us spin or allocate", () => {
  const kdf = {
    name: "scrypt",
    N: 1024,
    r: 8,
    p: 1,
    salt: "AAAAAAAAAAAAAAAAAAAAAA==",
    check: "0123456789abcdef",
  };
  const withKdf = (k: Record<string, unknown>) =>
    craftEnvelope(JSON.stringify({ algorithm: "AES-256-GCM", keyId: "passphrase", kdf: k, nonce: NONCE }));
  assert.equal(inspectEnvelope(withKdf(kdf)).kdf?.N, 1024);
  for (const bad of [
    { ...kdf, N: 2 ** 21 },
    { ...kdf, N: 1000 },
    { ...kdf, r: 17 },
    { ...kdf, p: 0 },
    { ...kdf, N: 2 ** 20, r: 16 },
    { ...kdf, name: "pbkdf2" },
    { ...kdf, salt: "AAAA" },
    { ...kdf, check: "short" },
    { ...kdf, extra: true },
  ]) {
    thrown(() => inspectEnvelope(withKdf(bad)), "E_CORRUPT");
  }
});

test("inspectEnvelope reports the non-secret header of each kind, and refuses non-bytes", async () => {
  const noop = inspectEnvelope(await noopEncrypter().seal(text("x"), LOCATION));
  assert.equal(noop.algorithm, "none");
  assert.equal(noop.location, LOCATION);
  assert.match(noop.sha256 ?? "", /^[0-9a-f]{64}$/);
  thrown(() => inspectEnvelope("SKSEAL" as unknown as Uint8Array), "E_INVALID_ARGUMENT");
});

test("seal and open validate their arguments", async () => {
  await rejection(key.seal("text" as unknown as Uint8Array, LOCATION), "E_INVALID_ARGUMENT");
  await rejection(key.seal(text("x"), 42 as unknown as string), "E_INVALID_ARGUMENT");
  await rejection(key.seal(text("x"), "x".repeat(5000)), "E_INVALID_ARGUMENT");
  await rejection(key.open([1, 2, 3] as unknown as Uint8Array, LOCATION), "E_INVALID_ARGUMENT");
});

test("an envelope inside a larger buffer (a subarray) is parsed correctly", async () => {
  const sealed = await key.seal(text("inside"), LOCATION);
  const padded = new Uint8Array(sealed.length + 10);
  padded.set(sealed, 5);
  const view = padded.subarray(5, 5 + sealed.length);
  assert.deepEqual(await key.open(view, LOCATION), text("inside"));
});
