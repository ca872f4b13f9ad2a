import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { S3Client } from "@aws-sdk/client-s3";
import { fileStore } from "../../src/objectstore/file.js";
import { s3Store } from "../../src/objectstore/s3/index.js";
import type { ObjectStore } from "../../src/objectstore/types.js";
import type { S3Server } from "./server.js";

/** Which gateway: stock beast (no TCP_NODELAY, RGW's default) or beast with tcp_nodelay=1. */
export type Gateway = "stock" | "nodelay";

export const endpointOf = (server: S3Server, gateway: Gateway) =>
  gateway === "stock" ? server.stockEndpoint : server.nodelayEndpoint;

export function benchPrefix(label: string): string {
  return `bench/${label}-${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;
}

/**
 * An SDK client configured as the driver configures its own (src/objectstore/s3/client.ts),
 * optionally without connection reuse (scenario 7's client-side workaround).
 */
export function sdkClient(server: S3Server, gateway: Gateway, opts: { keepAlive?: boolean } = {}): S3Client {
  return new S3Client({
    region: server.region,
    endpoint: endpointOf(server, gateway),
    forcePathStyle: true,
    credentials: server.credentials,
    maxAttempts: 1,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    ...(opts.keepAlive === false
      ? { requestHandler: { httpAgent: new http.Agent({ keepAlive: false }) } }
      : {}),
  });
}

/** The statekeeper S3 driver on the bench bucket under a fresh prefix. */
export function benchS3Store(
  server: S3Server,
  gateway: Gateway,
  label: string,
  opts: { client?: S3Client } = {},
): ObjectStore {
  return s3StoreAt(server, gateway, benchPrefix(label), opts);
}

/** The statekeeper S3 driver under a given prefix (several writers on the same objects). */
export function s3StoreAt(
  server: S3Server,
  gateway: Gateway,
  prefix: string,
  opts: { client?: S3Client } = {},
): ObjectStore {
  return s3Store({
    bucket: server.bucket,
    prefix,
    region: server.region,
    endpoint: endpointOf(server, gateway),
    forcePathStyle: true,
    credentials: server.credentials,
    ...(opts.client !== undefined ? { client: opts.client } : {}),
  });
}

export type StoreKind = "file" | "s3";

/** A fresh store for a scenario: its URL (for spawned binaries), the store, the env it needs. */
export interface StoreSide {
  url: string;
  store: ObjectStore;
  env: Record<string, string>;
  cleanup(): Promise<void>;
}

export async function freshStore(kind: StoreKind, s3: S3Server, label: string): Promise<StoreSide> {
  if (kind === "file") {
    const dir = await mkdtemp(join(tmpdir(), `statekeeper-bench-${label}-`));
    return {
      url: pathToFileURL(dir).href,
      store: fileStore(dir),
      env: {},
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  }
  const prefix = benchPrefix(label);
  const params = new URLSearchParams({
    region: s3.region,
    endpoint: s3.nodelayEndpoint,
    forcePathStyle: "true",
  });
  return {
    url: `s3://${s3.bucket}/${prefix}?${params.toString()}`,
    store: s3StoreAt(s3, "nodelay", prefix),
    env: {
      AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
    },
    // The bucket goes with the bench's gateway at the end of the run.
    cleanup: async () => {},
  };
}
