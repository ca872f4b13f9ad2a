import assert from "node:assert/strict";
import { test } from "node:test";
import { backendTypes, openBackendFromConfig, validateBackendConfig } from "../../src/backend/registry.js";
import { noopEncrypter } from "../../src/crypto/noop.js";
import { hasErrorCode } from "../../src/errors.js";
import { newSnapshot } from "../../src/snapshot/codec.js";
import { randomS3Prefix, rawS3Client, s3TestEnv } from "../support/s3.js";

test("the s3 backend type validates its schema", () => {
  const s3 = backendTypes().find((t) => t.name === "s3");
  assert.ok(s3, "s3 type registered");
  assert.throws(
    () => validateBackendConfig(s3, { prefix: "p", forcePathStyle: "yes" }),
    (e) =>
      hasErrorCode(e, "E_INVALID_CONFIG") &&
      /"bucket" is required/.test(e.message) &&
      /forcePathStyle/.test(e.message),
  );
});

test("openBackendFromConfig('s3') commits to the bucket with SSE-KMS on every object", async () => {
  const env = s3TestEnv();
  const prefix = randomS3Prefix("registry");
  const config = {
    bucket: env.bucket,
    prefix,
    region: env.region,
    endpoint: env.endpoint,
    forcePathStyle: env.forcePathStyle,
    ...(env.kmsKeyId === undefined ? {} : { kmsKeyId: env.kmsKeyId }),
  };
  const ctx = { factory: "app", stack: "prod", encrypter: noopEncrypter() };
  const backend = await openBackendFromConfig("s3", config, ctx);
  const rev = await backend.commit(newSnapshot({ name: "app", version: "1", contentRevision: "c" }, "prod"));
  const again = await openBackendFromConfig("s3", config, ctx);
  assert.equal(await again.currentRev(), rev);
  if (env.kmsKeyId !== undefined) {
    const { HeadObjectCommand } = await import("@aws-sdk/client-s3");
    const head = await rawS3Client().send(
      // The stack is headed by its log (the default): the revision is its commit entry.
      new HeadObjectCommand({
        Bucket: env.bucket,
        Key: `${prefix}/app/prod/log/${"0".repeat(16)}/${rev.padStart(16, "0")}`,
      }),
    );
    assert.equal(head.ServerSideEncryption, "aws:kms");
  }
});
