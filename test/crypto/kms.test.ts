import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, test } from "node:test";
import { KMSClient } from "@aws-sdk/client-kms";
import { awsKmsEncrypter, inspectEnvelope, keyEncrypter, keyring } from "../../src/crypto/index.js";
import { KMS_TEST_CREDENTIALS, type KmsServer, startKmsServer } from "../support/kms-server.js";
import { LOCATION, OTHER_STACK, rejection, text, thrown } from "./helpers.js";

let kms: KmsServer;
let client: KMSClient;
before(async () => {
  kms = await startKmsServer();
  client = new KMSClient({
    endpoint: kms.endpoint,
    region: kms.region,
    credentials: KMS_TEST_CREDENTIALS,
    maxAttempts: 1,
  });
});
after(async () => {
  client.destroy();
  await kms.close();
});

test("a fresh data key per seal: two seals, two GenerateDataKey calls, two wrapped keys", async () => {
  const { arn } = kms.createKey();
  const e = awsKmsEncrypter({ keyId: arn, client });
  const before = kms.requestsFor("GenerateDataKey");
  const a = inspectEnvelope(await e.seal(text("x"), LOCATION));
  const b = inspectEnvelope(await e.seal(text("x"), LOCATION));
  assert.equal(kms.requestsFor("GenerateDataKey") - before, 2);
  assert.ok(a.wrappedKey !== undefined && b.wrappedKey !== undefined);
  assert.notEqual(a.wrappedKey, b.wrappedKey);
  assert.equal(a.keyId, `kms:${arn}`);
  assert.equal(a.kmsKeyId, arn);
});

test("opening unwraps with KMS once per file, then from the bounded cache", async () => {
  const { arn } = kms.createKey({ alias: "alias/cache-test" });
  const writer = awsKmsEncrypter({ keyId: "alias/cache-test", client });
  const files = [
    await writer.seal(text("0"), LOCATION),
    await writer.seal(text("1"), LOCATION),
    await writer.seal(text("2"), LOCATION),
  ];
  assert.equal(inspectEnvelope(files[0]!).kmsKeyId, arn);
  const reader = awsKmsEncrypter({ keyId: "alias/cache-test", client, cacheSize: 2 });
  const decrypts = () => kms.requestsFor("Decrypt");
  const start = decrypts();
  assert.deepEqual(await reader.open(files[0]!, LOCATION), text("0"));
  assert.deepEqual(await reader.open(files[0]!, LOCATION), text("0"));
  assert.equal(decrypts() - start, 1);
  await reader.open(files[1]!, LOCATION);
  await reader.open(files[2]!, LOCATION); // evicts file 0's key
  assert.equal(decrypts() - start, 3);
  await reader.open(files[0]!, LOCATION);
  assert.equal(decrypts() - start, 4);
  // The writer cached each data key as it sealed: reading back costs no KMS call.
  await writer.open(files[2]!, LOCATION);
  assert.equal(decrypts() - start, 4);
});

test("KMS itself refuses to unwrap a data key for another location (EncryptionContext)", async () => {
  const { arn } = kms.createKey();
  const sealed = await awsKmsEncrypter({ keyId: arn, client }).seal(text("x"), LOCATION);
  const error = await rejection(
    awsKmsEncrypter({ keyId: arn, client }).open(sealed, OTHER_STACK),
    "E_DECRYPT",
  );
  assert.equal(error.details.awsError, "InvalidCiphertextException");
  assert.ok(error.message.includes(`kms:${arn}`));
});

test("a file sealed under another KMS key names that key; an alias moved to a new key is E_DECRYPT", async () => {
  const first = kms.createKey({ alias: "alias/rotating" });
  const sealed = await awsKmsEncrypter({ keyId: first.arn, client }).seal(text("x"), LOCATION);
  const other = awsKmsEncrypter({ keyId: kms.createKey().arn, client });
  const error = await rejection(other.open(sealed, LOCATION), "E_DECRYPT");
  assert.ok(error.message.includes(`kms:${first.arn}`), error.message);

  const viaAlias = await awsKmsEncrypter({ keyId: "alias/rotating", client }).seal(text("y"), LOCATION);
  kms.createKey({ alias: "alias/rotating" });
  const moved = await rejection(
    awsKmsEncrypter({ keyId: "alias/rotating", client }).open(viaAlias, LOCATION),
    "E_DECRYPT",
  );
  assert.equal(moved.details.awsError, "IncorrectKeyException");
  assert.equal(moved.details.kmsKeyId, first.arn);
});

test("an unknown KMS key id is a clear E_INVALID_CONFIG naming the key", async () => {
  const error = await rejection(
    awsKmsEncrypter({ keyId: "alias/does-not-exist", client }).seal(text("x"), LOCATION),
    "E_INVALID_CONFIG",
  );
  assert.equal(error.details.awsError, "NotFoundException");
  assert.match(error.message, /alias\/does-not-exist/);
});

test("KMS errors are mapped by name and status: access denied, throttling, internal, unreachable", async () => {
  const { arn } = kms.createKey();
  const e = awsKmsEncrypter({ keyId: arn, client });
  const sealed = await e.seal(text("x"), LOCATION);
  kms.failNext("ThrottlingException", 400);
  await rejection(e.seal(text("x"), LOCATION), "E_RATE_LIMITED");
  kms.failNext("KMSInternalException", 500);
  await rejection(e.seal(text("x"), LOCATION), "E_UNAVAILABLE");
  kms.failNext("SomethingNew", 503);
  await rejection(e.seal(text("x"), LOCATION), "E_UNAVAILABLE");
  kms.denyAccess(arn);
  await rejection(e.seal(text("x"), LOCATION), "E_AUTH");
  await rejection(awsKmsEncrypter({ keyId: arn, client }).open(sealed, LOCATION), "E_AUTH");

  const down = await startKmsServer();
  const endpoint = down.endpoint;
  await down.close();
  const unreachable = new KMSClient({
    endpoint,
    region: "us-east-1",
    credentials: KMS_TEST_CREDENTIALS,
    maxAttempts: 1,
  });
  await rejection(
    awsKmsEncrypter({ keyId: arn, client: unreachable }).seal(text("x"), LOCATION),
    "E_UNAVAILABLE",
  );
  unreachable.destroy();
});

test("region/endpoint options build a client from the standard credential chain", async () => {
  const { arn } = kms.createKey();
  process.env.AWS_ACCESS_KEY_ID = KMS_TEST_CREDENTIALS.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = KMS_TEST_CREDENTIALS.secretAccessKey;
  const e = awsKmsEncrypter({ keyId: arn, endpoint: kms.endpoint, region: kms.region });
  const sealed = await e.seal(text("via options"), LOCATION);
  assert.deepEqual(
    await awsKmsEncrypter({ keyId: arn, endpoint: kms.endpoint, region: kms.region }).open(sealed, LOCATION),
    text("via options"),
  );
});

test("options are validated at construction", () => {
  thrown(() => awsKmsEncrypter({ keyId: "" }), "E_INVALID_CONFIG");
  thrown(() => awsKmsEncrypter({ keyId: "a\nb" }), "E_INVALID_CONFIG");
  thrown(() => awsKmsEncrypter({ keyId: "k", client, region: "us-east-1" }), "E_INVALID_CONFIG");
  thrown(() => awsKmsEncrypter({ keyId: "k", endpoint: "not a url" }), "E_INVALID_CONFIG");
  thrown(() => awsKmsEncrypter({ keyId: "k", cacheSize: 0 }), "E_INVALID_CONFIG");
});

test("a keyring can rotate from a local key to KMS", async () => {
  const old = keyEncrypter({ key: new Uint8Array(32).fill(8) });
  const kmsKey = awsKmsEncrypter({ keyId: kms.createKey().arn, client });
  const oldFile = await old.seal(text("old"), LOCATION);
  const ring = keyring(kmsKey, old);
  assert.deepEqual(await ring.open(oldFile, LOCATION), text("old"));
  const newFile = await ring.seal(text("new"), LOCATION);
  assert.equal(inspectEnvelope(newFile).keyId, kmsKey.keyId);
  assert.deepEqual(await ring.open(newFile, LOCATION), text("new"));
});

test("@aws-sdk/client-kms is loaded only when a KMS encrypter is first used", () => {
  const run = spawnSync(process.execPath, ["--import", "tsx", "test/fixtures/crypto/kms-lazy-load.ts"], {
    cwd: new URL("../..", import.meta.url).pathname,
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.equal(run.status, 0, run.stderr);
  const result = JSON.parse(run.stdout.trim().split("\n").at(-1) ?? "{}");
  assert.equal(result.afterOthers, 0, "the crypto layer and the other encrypters load no KMS SDK");
  assert.equal(result.afterConstruction, 0, "constructing a KMS encrypter loads nothing yet");
  assert.ok(result.afterUse > 0, "sealing with KMS loads the SDK");
  assert.equal(result.code, "E_UNAVAILABLE");
});
