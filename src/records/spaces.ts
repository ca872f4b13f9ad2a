import type { Encrypter } from "../crypto/types.js";
import { StateKeeperError } from "../errors.js";
import { storeScheme } from "../objectstore/schemes.js";
import { normalizeRecordsPrefix, type RecordLayoutName, recordLayout } from "./keys.js";
import { createRecordStore } from "./store.js";
import type { RecordStore } from "./types.js";

/** The options of DigitalOcean's `NewSpacesIaCStateStore`. */
export interface SpacesRecordStoreOptions {
  /** DO region, e.g. "nyc3"; gives the endpoint `https://<region>.digitaloceanspaces.com`. */
  region?: string;
  /** The Space (bucket); required. */
  bucket: string;
  /** Records prefix; default `"iac-state/"`. */
  prefix?: string;
  /** Falls back to `DO_SPACES_ACCESS_KEY`. */
  accessKey?: string;
  /** Falls back to `DO_SPACES_SECRET_KEY`. */
  secretKey?: string;
  /** Overrides the endpoint derived from `region` (another S3-compatible server, a CDN-less host…). */
  endpoint?: string;
  /** Path-style addressing; default: off for the DO endpoint, on for a custom one. */
  forcePathStyle?: boolean;
  encrypter?: Encrypter;
  /**
   * `"spaces"`: the keys the original wrote (`/` and `\` turned into `_`), to open a Space in
   * place; default `"statekeeper"`, lossless keys (docs/records.md, "Key layouts").
   */
  layout?: RecordLayoutName;
}

/** What `spacesRecordStore` builds: the `s3Store` options and the records prefix. */
export interface SpacesConfig {
  s3: {
    bucket: string;
    region: string;
    endpoint: string;
    forcePathStyle: boolean;
    credentials?: { accessKeyId: string; secretAccessKey: string };
  };
  prefix: string;
}

function badOption(option: string, why: string): StateKeeperError {
  return new StateKeeperError("E_INVALID_CONFIG", `spacesRecordStore: option "${option}" ${why}`, {
    details: { option },
  });
}

function optionalString(value: unknown, option: string): string | undefined {
  if (value === undefined || value === "") return undefined;
  if (typeof value !== "string") throw badOption(option, "must be a string");
  return value;
}

/**
 * Resolves DigitalOcean's defaults without touching the network: endpoint from the region, the
 * credentials from the options or `DO_SPACES_ACCESS_KEY` / `DO_SPACES_SECRET_KEY`. Errors name
 * the option, never a credential's value.
 */
export function resolveSpacesConfig(
  options: SpacesRecordStoreOptions,
  env: Readonly<Record<string, string | undefined>> = process.env,
): SpacesConfig {
  if (typeof options !== "object" || options === null) throw badOption("options", "must be an object");
  const bucket = optionalString(options.bucket, "bucket");
  if (bucket === undefined) throw badOption("bucket", "is required");
  const region = optionalString(options.region, "region");
  // The region becomes part of a host name: nothing but a DNS label may get in.
  if (region !== undefined && !/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(region))
    throw badOption("region", "must be a region name such as nyc3");
  const customEndpoint = optionalString(options.endpoint, "endpoint");
  if (region === undefined && customEndpoint === undefined)
    throw badOption("region", 'or "endpoint" is required');
  const endpoint = customEndpoint ?? `https://${region}.digitaloceanspaces.com`;
  if (options.forcePathStyle !== undefined && typeof options.forcePathStyle !== "boolean")
    throw badOption("forcePathStyle", "must be true or false");

  const accessKey =
    optionalString(options.accessKey, "accessKey") ??
    optionalString(env.DO_SPACES_ACCESS_KEY, "DO_SPACES_ACCESS_KEY");
  const secretKey =
    optionalString(options.secretKey, "secretKey") ??
    optionalString(env.DO_SPACES_SECRET_KEY, "DO_SPACES_SECRET_KEY");
  if ((accessKey === undefined) !== (secretKey === undefined))
    throw badOption(
      accessKey === undefined ? "accessKey" : "secretKey",
      "is missing (set it or DO_SPACES_ACCESS_KEY / DO_SPACES_SECRET_KEY), while the other one is set",
    );

  return {
    s3: {
      bucket,
      // Spaces signs with the DO region; "us-east-1" is what DO documents when only an endpoint is known.
      region: region ?? "us-east-1",
      endpoint,
      forcePathStyle: options.forcePathStyle ?? customEndpoint !== undefined,
      ...(accessKey !== undefined && secretKey !== undefined
        ? { credentials: { accessKeyId: accessKey, secretAccessKey: secretKey } }
        : {}),
    },
    prefix: normalizeRecordsPrefix(options.prefix ?? "iac-state/"),
  };
}

/**
 * Records on a DigitalOcean Space (or any S3-compatible endpoint) with DigitalOcean's defaults. The
 * AWS SDK is loaded on first use; the store is probed before the first write.
 */
export function spacesRecordStore(options: SpacesRecordStoreOptions): RecordStore {
  const config = resolveSpacesConfig(options);
  recordLayout(options.layout); // an unknown layout is refused before the driver is touched
  // The S3 driver from the scheme table: records never import a driver.
  const s3 = storeScheme("s3");
  if (s3 === undefined) throw new StateKeeperError("E_INTERNAL", "no s3 driver in the scheme table");
  return createRecordStore(s3.fromConfig(config.s3), {
    prefix: config.prefix,
    ...(options.layout === undefined ? {} : { layout: options.layout }),
    ...(options.encrypter === undefined ? {} : { encrypter: options.encrypter }),
  });
}
