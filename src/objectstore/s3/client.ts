import type { S3Client } from "@aws-sdk/client-s3";
import { withoutNodeVersionWarning } from "../../internal/aws-sdk.js";
import { StoreError } from "../types.js";
import type { ResolvedS3Options } from "./options.js";

export type S3Sdk = typeof import("@aws-sdk/client-s3");

let sdkPromise: Promise<S3Sdk> | undefined;

/** The AWS SDK, loaded on first use so that `file://` and `memory://` users never load it. */
export function loadS3Sdk(): Promise<S3Sdk> {
  sdkPromise ??= import("@aws-sdk/client-s3");
  return sdkPromise;
}

/**
 * Resolves the client's region now: without one, the SDK fails every request with a bare
 * "Region is missing" from deep in its middleware. Recognised by where it fails (the region
 * provider), not by that text.
 */
async function checkRegion(client: S3Client, options: ResolvedS3Options): Promise<void> {
  const provider = (client as { config?: { region?: unknown } }).config?.region;
  if (typeof provider !== "function") return;
  try {
    await provider();
  } catch (e) {
    const configured = options.clientConfig.region;
    const why =
      options.client !== undefined
        ? "the S3 client given as option 'client' has no usable region: set region when creating it"
        : configured === undefined
          ? "no AWS region configured: add ?region=… to the store URL (or the region option of s3Store) or set AWS_REGION"
          : `AWS region "${configured}" is not valid`;
    throw new StoreError("INVALID_CONFIG", `s3 bucket ${options.bucket}: ${why}`, {
      cause: e,
      details: { option: "region", bucket: options.bucket },
    });
  }
}

/** The caller's client as given, or one configured for predictable, S3-compatible behaviour. */
export async function createS3Client(options: ResolvedS3Options): Promise<S3Client> {
  if (options.client !== undefined) {
    await checkRegion(options.client, options);
    return options.client;
  }
  const { S3Client } = await loadS3Sdk();
  const { region, endpoint, forcePathStyle, credentials } = options.clientConfig;
  const client = withoutNodeVersionWarning(
    () =>
      new S3Client({
        // The SDK needs a region to sign even when an S3-compatible endpoint ignores it.
        ...(region !== undefined ? { region } : endpoint !== undefined ? { region: "us-east-1" } : {}),
        ...(endpoint !== undefined ? { endpoint } : {}),
        ...(forcePathStyle !== undefined ? { forcePathStyle } : {}),
        ...(credentials !== undefined ? { credentials } : {}),
        // The driver owns retries (withRetries): a write whose outcome is unknown must be resolved
        // by re-reading, which the SDK's blind retries cannot do, and one loop keeps the total
        // number of attempts predictable.
        maxAttempts: 1,
        // SDK >= 3.729 adds CRC32 checksums (and aws-chunked uploads) to every request by default;
        // several S3-compatible stores (older Ceph RGW, MinIO, R2 at times) reject or mishandle
        // them. Send and check checksums only where the API requires them.
        requestChecksumCalculation: "WHEN_REQUIRED",
        responseChecksumValidation: "WHEN_REQUIRED",
        requestHandler: { connectionTimeout: 10_000, requestTimeout: 60_000 },
      }),
  );
  await checkRegion(client, options);
  return client;
}
