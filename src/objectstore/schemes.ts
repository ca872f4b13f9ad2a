import { isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { StateKeeperError, truncateForMessage } from "../errors.js";
import { fileStore } from "./file.js";
import { memoryStore } from "./memory.js";
// The S3 driver's module loads no SDK code until its first request.
import { type S3StoreOptions, s3Store, s3StoreFromUrl } from "./s3/index.js";
import type { ObjectStore } from "./types.js";

/** One field of a store's configuration (an operator's `state:` block, a backend type's schema). */
export interface ConfigField {
  type: "string" | "boolean" | "number";
  required?: boolean;
  description: string;
}

/**
 * A driver as the layers above see it, declared once: its URL scheme, the backend type name its
 * configuration goes by, that configuration's schema, and how to open it from a URL or from a
 * (validated) configuration. `openStore`, the backend-type registry and the Spaces records helper
 * all read this table; nothing above the object-store layer imports a driver.
 */
export interface StoreScheme {
  /** The URL scheme, without ':' ("file"). */
  scheme: string;
  /** The URL forms it accepts, for help and error text. */
  urlForms: string;
  /** The backend type name its configuration is known by ("local"). */
  typeName: string;
  description: string;
  configuration: Readonly<Record<string, ConfigField>>;
  /** Opens the store a URL of this scheme names. */
  fromUrl(url: string): ObjectStore;
  /** Opens the store a configuration names; the driver validates it (and may accept more than the schema, such as credentials). */
  fromConfig(config: Readonly<Record<string, unknown>>): ObjectStore;
}

/** Every driver statekeeper ships; the S3 driver loads the AWS SDK only on its first request. */
export const STORE_SCHEMES: readonly StoreScheme[] = [
  {
    scheme: "file",
    urlForms: "file:///abs/path, file:./rel, file:rel",
    typeName: "local",
    description: "A folder on this machine (the embedded default).",
    configuration: {
      path: { type: "string", required: true, description: "the folder that holds the state" },
    },
    fromUrl: (url) => fileStore(filePathOf(url)),
    fromConfig: (config) => fileStore(config.path as string),
  },
  {
    scheme: "memory",
    urlForms: "memory://name",
    typeName: "memory",
    description: "In-process memory, for tests; stores opened with one name share objects.",
    configuration: { name: { type: "string", description: "stores with the same name share objects" } },
    fromUrl: (url) => memoryStore(memoryNameOf(url)),
    fromConfig: (config) => memoryStore(typeof config.name === "string" ? config.name : undefined),
  },
  {
    scheme: "s3",
    urlForms: "s3://bucket/prefix?region=…",
    typeName: "s3",
    description:
      "An S3-compatible bucket (AWS S3, R2, Spaces, MinIO, Ceph RGW); credentials from the AWS chain.",
    configuration: {
      bucket: { type: "string", required: true, description: "the bucket, which must exist" },
      prefix: { type: "string", description: "key prefix inside the bucket" },
      region: { type: "string", description: "the bucket's region" },
      endpoint: { type: "string", description: "an S3-compatible endpoint URL" },
      forcePathStyle: { type: "boolean", description: "path-style addressing (most S3-compatible stores)" },
      kmsKeyId: { type: "string", description: "SSE-KMS key for every object written" },
    },
    fromUrl: (url) => s3StoreFromUrl(url),
    fromConfig: (config) => s3Store(config as unknown as S3StoreOptions),
  },
];

/** The URL schemes `openStore` accepts. */
export const SUPPORTED_STORE_SCHEMES: readonly string[] = STORE_SCHEMES.map((s) => s.scheme);

const SUPPORTED_FORMS = STORE_SCHEMES.map((s) => s.urlForms).join(", ");

/** The driver for a URL scheme or a backend type name; undefined when there is none. */
export function storeScheme(name: string): StoreScheme | undefined {
  return STORE_SCHEMES.find((s) => s.scheme === name || s.typeName === name);
}

function invalidUrl(url: string, why: string, cause?: unknown): StateKeeperError {
  return new StateKeeperError(
    "E_INVALID_CONFIG",
    `invalid store URL ${describeStoreUrl(url)}: ${why} (supported: ${SUPPORTED_FORMS})`,
    { details: { url: describeStoreUrl(url) }, ...(cause === undefined ? {} : { cause }) },
  );
}

/**
 * Opens the store a URL names: `file:///abs/path`, `file:./rel` or `file:rel` (relative to the
 * current directory), `memory://name` (stores opened with one name share their objects within
 * this process), `s3://bucket/prefix?…` (the AWS SDK is loaded on the first request).
 */
export async function openStore(url: string): Promise<ObjectStore> {
  if (typeof url !== "string" || url === "") throw invalidUrl(String(url), "empty");
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  const driver = scheme === undefined ? undefined : STORE_SCHEMES.find((s) => s.scheme === scheme);
  if (driver === undefined)
    throw invalidUrl(url, scheme === undefined ? "no scheme" : `unknown scheme "${scheme}:"`);
  return driver.fromUrl(url);
}

function filePathOf(url: string): string {
  const rest = url.slice("file:".length);
  if (rest.startsWith("//")) {
    let path: string;
    try {
      path = fileURLToPath(url);
    } catch (e) {
      throw invalidUrl(url, "file URLs with a host are not supported; use file:///abs/path", e);
    }
    if (!isAbsolute(path)) throw invalidUrl(url, "not an absolute path");
    return path;
  }
  if (rest === "" || rest.includes("?") || rest.includes("#"))
    throw invalidUrl(url, "expected a path: file:./rel or file:///abs/path");
  let path: string;
  try {
    path = decodeURIComponent(rest);
  } catch (e) {
    throw invalidUrl(url, "malformed percent-encoding", e);
  }
  if (path.includes("\0")) throw invalidUrl(url, "the path contains a NUL character");
  return resolve(path);
}

function memoryNameOf(url: string): string {
  const match = /^memory:\/\/([A-Za-z0-9._-]+)\/?$/i.exec(url);
  if (match?.[1] === undefined)
    throw invalidUrl(url, "expected memory://name (letters, digits, '.', '_', '-')");
  return match[1];
}

const SECRET_PARAM = /secret|key|token|pass|credential|signature|auth/i;

/**
 * The URL with anything secret-looking replaced by `***` — user info and query parameters whose
 * name suggests a secret — for error messages and logs. Unparsable input is cut to its scheme.
 */
export function describeStoreUrl(url: string): string {
  if (typeof url !== "string") return "<not a string>";
  // file:./rel and file:rel carry no host, user or query: show them as given.
  if (/^file:(?!\/\/)/i.test(url)) return truncateForMessage(url.replace(/[?#].*$/s, "?***"));
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1];
    return scheme === undefined ? "<unparsable URL>" : `${scheme}:<unparsable>`;
  }
  if (parsed.username !== "" || parsed.password !== "") {
    parsed.username = "***";
    parsed.password = "";
  }
  for (const name of [...parsed.searchParams.keys()])
    if (SECRET_PARAM.test(name)) parsed.searchParams.set(name, "***");
  return truncateForMessage(parsed.toString().replaceAll("%2A%2A%2A", "***"));
}
