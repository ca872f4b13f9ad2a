// The S3 test server's settings, and stores on it, for every suite that runs on S3.
// scripts/run-tests.mjs starts a local Ceph RGW and sets the environment below; set it yourself
// to run the suites against any S3-compatible endpoint (AWS, R2, MinIO) with your credentials:
//   STATEKEEPER_TEST_S3_ENDPOINT  e.g. http://127.0.0.1:9000 or https://s3.eu-west-1.amazonaws.com
//   STATEKEEPER_TEST_S3_BUCKET    an existing bucket the tests may write to (under random prefixes)
//   STATEKEEPER_TEST_S3_REGION    default us-east-1
//   STATEKEEPER_TEST_S3_KMS_KEY_ID  a KMS key id for the SSE-KMS suites (RGW: testkey-1)
//   STATEKEEPER_TEST_S3_FORCE_PATH_STYLE  default true; "false" for virtual-hosted buckets
//   STATEKEEPER_TEST_S3_CONDITIONAL_DELETE  "true" when the endpoint honours If-Match on DELETE (AWS)
//   AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or any other AWS credential source)
import { randomBytes } from "node:crypto";
import { S3Client } from "@aws-sdk/client-s3";
import type { ObjectStore } from "../../src/objectstore/index.js";
import { s3StoreWithInternals } from "../../src/objectstore/s3/store.js";

export interface S3TestEnv {
  endpoint: string;
  bucket: string;
  region: string;
  forcePathStyle: boolean;
  /** The KMS key SSE-KMS suites use; undefined when the endpoint has none configured. */
  kmsKeyId: string | undefined;
  /** Whether the endpoint honours If-Match on DELETE (RGW 16 does not; AWS does). */
  conditionalDelete: boolean;
  /** From AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY when set; otherwise the AWS chain decides. */
  credentials: { accessKeyId: string; secretAccessKey: string } | undefined;
}

/**
 * The S3 test configuration from the environment. Throws when it is missing, so a suite that
 * has no server FAILS instead of skipping.
 */
export function s3TestEnv(): S3TestEnv {
  const endpoint = process.env.STATEKEEPER_TEST_S3_ENDPOINT;
  const bucket = process.env.STATEKEEPER_TEST_S3_BUCKET;
  if (!endpoint || !bucket)
    throw new Error(
      "S3 test server not configured: STATEKEEPER_TEST_S3_ENDPOINT and STATEKEEPER_TEST_S3_BUCKET are unset. " +
        "Run the tests through `node scripts/run-tests.mjs` (it starts a local Ceph RGW), or set them " +
        "to an S3-compatible endpoint; `--no-s3` leaves S3 suites out.",
    );
  const accessKeyId = process.env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = process.env.AWS_SECRET_ACCESS_KEY;
  return {
    endpoint,
    bucket,
    region: process.env.STATEKEEPER_TEST_S3_REGION || "us-east-1",
    forcePathStyle: process.env.STATEKEEPER_TEST_S3_FORCE_PATH_STYLE !== "false",
    kmsKeyId: process.env.STATEKEEPER_TEST_S3_KMS_KEY_ID || undefined,
    conditionalDelete: process.env.STATEKEEPER_TEST_S3_CONDITIONAL_DELETE === "true",
    credentials: accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey } : undefined,
  };
}

/** A fresh prefix so tests never see each other's objects and never need to wipe the bucket. */
export function randomS3Prefix(label = "t"): string {
  return `statekeeper-test/${label}-${Date.now().toString(36)}-${randomBytes(6).toString("hex")}`;
}

export interface MakeS3StoreOptions {
  kmsKeyId?: string;
  prefix?: string;
  /** Talk to this endpoint instead (e.g. a fault proxy in front of the server). */
  endpoint?: string;
  maxAttempts?: number;
  retryBaseDelayMs?: number;
  /** Internal: the age at which the probe sweeps other probes' scratch objects (default 10 min). */
  probeStaleAfterMs?: number;
}

/** An s3Store on the test bucket under a fresh random prefix (or `opts.prefix`). */
export async function makeS3Store(opts: MakeS3StoreOptions = {}): Promise<ObjectStore> {
  const env = s3TestEnv();
  const internals = opts.probeStaleAfterMs === undefined ? {} : { probeStaleAfterMs: opts.probeStaleAfterMs };
  return s3StoreWithInternals(
    {
      bucket: env.bucket,
      prefix: opts.prefix ?? randomS3Prefix(),
      region: env.region,
      endpoint: opts.endpoint ?? env.endpoint,
      forcePathStyle: env.forcePathStyle,
      ...(env.credentials !== undefined ? { credentials: env.credentials } : {}),
      ...(opts.kmsKeyId !== undefined ? { kmsKeyId: opts.kmsKeyId } : {}),
      ...(opts.maxAttempts !== undefined ? { maxAttempts: opts.maxAttempts } : {}),
      // Short backoff keeps fault-injection suites fast; the schedule's shape is the same.
      retryBaseDelayMs: opts.retryBaseDelayMs ?? 20,
    },
    internals,
  );
}

/**
 * An `s3://…` URL for the test bucket under a fresh random prefix (or `prefix`), for CLI and
 * `openBackend` tests. Credentials are not in it: they come from the AWS_* environment.
 */
export function makeS3Url(prefix?: string, opts: { kmsKeyId?: string } = {}): string {
  const env = s3TestEnv();
  const params = new URLSearchParams({ region: env.region, endpoint: env.endpoint });
  if (env.forcePathStyle) params.set("forcePathStyle", "true");
  if (opts.kmsKeyId !== undefined) params.set("kmsKeyId", opts.kmsKeyId);
  const path = (prefix ?? randomS3Prefix()).split("/").map(encodeURIComponent).join("/");
  return `s3://${env.bucket}/${path}?${params.toString()}`;
}

/** A plain SDK client on the test server, for assertions the ObjectStore API does not expose (HEAD → SSE). */
export function rawS3Client(): S3Client {
  const env = s3TestEnv();
  return new S3Client({
    region: env.region,
    endpoint: env.endpoint,
    forcePathStyle: env.forcePathStyle,
    ...(env.credentials !== undefined ? { credentials: env.credentials } : {}),
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}
