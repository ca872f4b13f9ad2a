// The ObjectStore conformance suite on a real S3 server (Ceph RGW started by
// scripts/run-tests.mjs, or the endpoint in STATEKEEPER_TEST_S3_*). Without a server,
// makeS3Store() throws and the suite fails: it never skips. SSE-KMS has its own file.
import { describe, test } from "node:test";
import { objectStoreConformance } from "../../src/testing/index.js";
import { makeS3Store, s3TestEnv } from "../support/s3.js";

objectStoreConformance({ describe, test }, () => makeS3Store(), {
  name: "s3",
  // S3's ETag of a plain PUT is the body's MD5: identical bytes keep it.
  etagChangesOnIdenticalRewrite: false,
  // RGW 16 ignores If-Match on DELETE: the probe must say so (delete then falls back to
  // read-compare-delete, tested in s3-driver.test.ts).
  conditionalDelete: s3TestEnv().conditionalDelete,
});
