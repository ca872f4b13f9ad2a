import type { S3Client } from "@aws-sdk/client-s3";
import { StateKeeperError } from "../../errors.js";
import { validateKey } from "../kit.js";

/** Static credentials, or a provider the SDK calls (as in the AWS SDK's own `credentials` option). */
export type S3Credentials =
  | { accessKeyId: string; secretAccessKey: string; sessionToken?: string }
  | (() => Promise<{ accessKeyId: string; secretAccessKey: string; sessionToken?: string }>);

export interface S3StoreOptions {
  /** The bucket; it must exist. */
  bucket: string;
  /** Every key is stored under `<prefix>/`; no leading or trailing '/' needed. */
  prefix?: string;
  /** Defaults to the AWS chain's region, or "us-east-1" when `endpoint` is given. */
  region?: string;
  /** An S3-compatible endpoint (R2, MinIO, Ceph RGW, …), e.g. "http://127.0.0.1:9000". */
  endpoint?: string;
  /** Path-style addressing (`endpoint/bucket/key`), which most S3-compatible stores need. */
  forcePathStyle?: boolean;
  /** Defaults to the standard AWS credential chain (env, profile, SSO, instance role…). */
  credentials?: S3Credentials;
  /** Every PUT carries `aws:kms` server-side encryption with this key; unset → none does. */
  kmsKeyId?: string;
  /** A ready client (its own region, credentials and retry settings are used as they are). */
  client?: S3Client;
  /** Attempts per operation for throttling and transient failures, 1–20 (default 5). */
  maxAttempts?: number;
  /** First backoff step in ms (default 100); delays double up to 5 s, with full jitter. */
  retryBaseDelayMs?: number;
}

/** Options after validation, with the prefix normalised to "" or "a/b/". */
export interface ResolvedS3Options {
  bucket: string;
  keyPrefix: string;
  kmsKeyId: string | undefined;
  maxAttempts: number;
  retryBaseDelayMs: number;
  client: S3Client | undefined;
  clientConfig: {
    region: string | undefined;
    endpoint: string | undefined;
    forcePathStyle: boolean | undefined;
    credentials: S3Credentials | undefined;
  };
}

function badOption(option: string, why: string, cause?: unknown): StateKeeperError {
  return new StateKeeperError("E_INVALID_CONFIG", `s3Store: invalid option "${option}": ${why}`, {
    details: { option },
    ...(cause === undefined ? {} : { cause }),
  });
}

const KNOWN_OPTIONS = new Set([
  "bucket",
  "prefix",
  "region",
  "endpoint",
  "forcePathStyle",
  "credentials",
  "kmsKeyId",
  "client",
  "maxAttempts",
  "retryBaseDelayMs",
]);

function optionalString(o: Record<string, unknown>, name: string): string | undefined {
  const v = o[name];
  if (v === undefined) return undefined;
  if (typeof v !== "string" || v.trim() === "" || v !== v.trim())
    throw badOption(name, "must be a non-empty string without surrounding spaces");
  return v;
}

/** Checks every option at once and names the bad one (E_INVALID_CONFIG); never prints secrets. */
export function resolveS3Options(options: S3StoreOptions): ResolvedS3Options {
  if (typeof options !== "object" || options === null) throw badOption("options", "expected an object");
  const o = options as unknown as Record<string, unknown>;
  for (const name of Object.keys(o))
    if (!KNOWN_OPTIONS.has(name) && o[name] !== undefined) throw badOption(name, "unknown option");

  const bucket = optionalString(o, "bucket");
  if (bucket === undefined) throw badOption("bucket", "required");
  // Loose on purpose (legacy and S3-compatible buckets allow more than AWS's current rules),
  // strict on what would change the request's path.
  if (!/^[A-Za-z0-9._-]{1,255}$/.test(bucket))
    throw badOption("bucket", "only letters, digits, '.', '_' and '-' are allowed");

  let keyPrefix = "";
  const prefix = o.prefix;
  if (prefix !== undefined) {
    if (typeof prefix !== "string") throw badOption("prefix", "must be a string");
    const trimmed = prefix.replace(/^\/+|\/+$/g, "");
    if (trimmed !== "") {
      try {
        validateKey(trimmed, "s3 prefix");
      } catch (e) {
        throw badOption("prefix", e instanceof Error ? e.message : String(e), e);
      }
      keyPrefix = `${trimmed}/`;
    }
  }

  const region = optionalString(o, "region");
  const endpoint = optionalString(o, "endpoint");
  if (endpoint !== undefined) {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch (e) {
      throw badOption("endpoint", "not a URL", e);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:")
      throw badOption("endpoint", "must be an http:// or https:// URL");
    if (url.username !== "" || url.password !== "")
      throw badOption(
        "endpoint",
        "must not contain credentials; use the credentials option or the AWS chain",
      );
  }
  if (o.forcePathStyle !== undefined && typeof o.forcePathStyle !== "boolean")
    throw badOption("forcePathStyle", "must be true or false");
  const kmsKeyId = optionalString(o, "kmsKeyId");

  const credentials = o.credentials;
  if (credentials !== undefined && typeof credentials !== "function") {
    const c = credentials as Record<string, unknown>;
    if (typeof c !== "object" || c === null)
      throw badOption("credentials", "expected { accessKeyId, secretAccessKey } or a provider function");
    if (typeof c.accessKeyId !== "string" || c.accessKeyId === "")
      throw badOption("credentials", "accessKeyId must be a non-empty string");
    if (typeof c.secretAccessKey !== "string" || c.secretAccessKey === "")
      throw badOption("credentials", "secretAccessKey must be a non-empty string");
  }
  const client = o.client;
  if (client !== undefined && typeof (client as { send?: unknown })?.send !== "function")
    throw badOption("client", "expected an S3Client");

  const maxAttempts = o.maxAttempts ?? 5;
  if (
    typeof maxAttempts !== "number" ||
    !Number.isInteger(maxAttempts) ||
    maxAttempts < 1 ||
    maxAttempts > 20
  )
    throw badOption("maxAttempts", "must be an integer from 1 to 20");
  const retryBaseDelayMs = o.retryBaseDelayMs ?? 100;
  if (typeof retryBaseDelayMs !== "number" || !Number.isFinite(retryBaseDelayMs) || retryBaseDelayMs < 0)
    throw badOption("retryBaseDelayMs", "must be a number >= 0");

  return {
    bucket,
    keyPrefix,
    kmsKeyId,
    maxAttempts,
    retryBaseDelayMs,
    client: client as S3Client | undefined,
    clientConfig: {
      region,
      endpoint,
      forcePathStyle: o.forcePathStyle as boolean | undefined,
      credentials: credentials as S3Credentials | undefined,
    },
  };
}

const URL_PARAMS = new Set(["region", "endpoint", "forcePathStyle", "kmsKeyId"]);

/**
 * Options from `s3://bucket/prefix?region=…&endpoint=…&forcePathStyle=true&kmsKeyId=…`.
 * Credentials always come from the AWS chain: a URL is logged and pasted, so it never holds them.
 */
export function s3OptionsFromUrl(url: string): S3StoreOptions {
  const invalid = (why: string, cause?: unknown) =>
    new StateKeeperError(
      "E_INVALID_CONFIG",
      `invalid s3 URL: ${why} (expected s3://bucket/prefix?region=…)`,
      {
        ...(cause === undefined ? {} : { cause }),
      },
    );
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (e) {
    throw invalid("not a URL", e);
  }
  if (parsed.protocol !== "s3:") throw invalid(`scheme is "${parsed.protocol}", not "s3:"`);
  if (parsed.username !== "" || parsed.password !== "")
    throw invalid("credentials in the URL are not accepted; use the AWS credential chain");
  if (parsed.hash !== "") throw invalid("a #fragment is not allowed");
  const unknown = [...new Set(parsed.searchParams.keys())].filter((k) => !URL_PARAMS.has(k));
  if (unknown.length > 0) throw invalid(`unknown query parameter(s): ${unknown.join(", ")}`);
  for (const k of URL_PARAMS)
    if (parsed.searchParams.getAll(k).length > 1) throw invalid(`query parameter ${k} given twice`);

  // Taken from the raw text: URL parsing may lowercase the host, and legacy buckets keep case.
  const bucket = /^s3:\/\/([^/?#]*)/i.exec(url)?.[1] ?? "";
  if (bucket === "") throw invalid("no bucket");
  const options: S3StoreOptions = { bucket };
  let prefix: string;
  try {
    prefix = decodeURIComponent(parsed.pathname);
  } catch (e) {
    throw invalid("malformed percent-encoding in the prefix", e);
  }
  if (prefix.replace(/^\/+|\/+$/g, "") !== "") options.prefix = prefix;
  const param = (k: string) => parsed.searchParams.get(k) ?? undefined;
  const region = param("region");
  if (region !== undefined) options.region = region;
  const endpoint = param("endpoint");
  if (endpoint !== undefined) options.endpoint = endpoint;
  const kmsKeyId = param("kmsKeyId");
  if (kmsKeyId !== undefined) options.kmsKeyId = kmsKeyId;
  const pathStyle = param("forcePathStyle");
  if (pathStyle !== undefined) {
    if (pathStyle !== "true" && pathStyle !== "false") throw invalid("forcePathStyle must be true or false");
    options.forcePathStyle = pathStyle === "true";
  }
  return options;
}
