// The driver kit: what every ObjectStore driver checks the same way, in one place. Drivers import
// this module (and types.ts, probe.ts), never each other.
import { truncateForMessage } from "../errors.js";
import { hasControlCharacter } from "../internal/text.js";
import { type DeleteOptions, type ListOptions, type PutOptions, StoreError } from "./types.js";

/** Longest key any driver accepts, in UTF-8 bytes (S3's own limit). */
export const MAX_KEY_BYTES = 1024;

function invalidKey(what: string, key: string, reason: string): StoreError {
  const shown = truncateForMessage(key);
  return new StoreError("INVALID_KEY", `invalid ${what} ${JSON.stringify(shown)}: ${reason}`, {
    key: shown,
    details: { what, name: shown },
  });
}

/**
 * Refuses keys that could escape a store's root or be read differently by different stores:
 * empty, absolute, `.`/`..` or empty segments, backslashes, control characters, over-long.
 * Every driver calls it before any I/O (`E_INVALID_NAME`, a StoreError with reason `INVALID_KEY`).
 */
export function validateKey(key: string, what = "store key"): string {
  if (typeof key !== "string" || key.length === 0) throw invalidKey(what, String(key), "must not be empty");
  if (Buffer.byteLength(key, "utf8") > MAX_KEY_BYTES)
    throw invalidKey(what, key, `longer than ${MAX_KEY_BYTES} bytes`);
  if (key.startsWith("/")) throw invalidKey(what, key, "must be relative (no leading '/')");
  if (key.includes("\\")) throw invalidKey(what, key, "must not contain a backslash");
  if (hasControlCharacter(key)) throw invalidKey(what, key, "must not contain control characters");
  if (!key.isWellFormed()) throw invalidKey(what, key, "must be well-formed unicode");
  for (const segment of key.split("/")) {
    if (segment === "")
      throw invalidKey(what, key, "must not contain empty segments ('//' or a trailing '/')");
    if (segment === "." || segment === "..")
      throw invalidKey(what, key, "must not contain '.' or '..' segments");
  }
  return key;
}

/** Like `validateKey`, for list prefixes: the empty prefix and a trailing '/' are allowed. */
export function validatePrefix(prefix: string): string {
  if (prefix === "") return prefix;
  validateKey(prefix.endsWith("/") ? prefix.slice(0, -1) : prefix, "store prefix");
  return prefix;
}

/**
 * A prefix that names a folder: `""`, or validated and ending in `/` (`"team"` and `"team/"` name
 * the same folder). Layers with stricter rules (stack prefixes follow the name rules) check more.
 */
export function folderPrefix(prefix: string): string {
  return validatePrefix(prefix === "" || prefix.endsWith("/") ? prefix : `${prefix}/`);
}

function invalidArgument(message: string, key: string): StoreError {
  return new StoreError("INVALID_ARGUMENT", message, { key });
}

/** Refuses a body that is not bytes and contradictory or empty conditions (`E_INVALID_ARGUMENT`). */
export function checkPut(key: string, body: unknown, opts: PutOptions): void {
  if (!(body instanceof Uint8Array)) throw invalidArgument(`put ${key}: body must be a Uint8Array`, key);
  if (typeof opts !== "object" || opts === null)
    throw invalidArgument(`put ${key}: options must be an object`, key);
  if (opts.ifMatch !== undefined && opts.ifNoneMatch !== undefined)
    throw invalidArgument(`put ${key}: give ifMatch or ifNoneMatch, not both`, key);
  if (opts.ifNoneMatch !== undefined && opts.ifNoneMatch !== "*")
    throw invalidArgument(
      `put ${key}: ifNoneMatch must be "*" (got ${JSON.stringify(opts.ifNoneMatch)})`,
      key,
    );
  if (opts.ifMatch !== undefined && (typeof opts.ifMatch !== "string" || opts.ifMatch === ""))
    throw invalidArgument(`put ${key}: ifMatch must be a non-empty etag`, key);
  if (
    opts.putId !== undefined &&
    (typeof opts.putId !== "string" || !/^[A-Za-z0-9_-]{1,64}$/.test(opts.putId))
  )
    throw invalidArgument(`put ${key}: putId must be 1-64 characters from [A-Za-z0-9_-]`, key);
  if (opts.durability !== undefined && opts.durability !== "deferred")
    throw invalidArgument(
      `put ${key}: durability must be "deferred" or absent (got ${JSON.stringify(opts.durability)})`,
      key,
    );
}

/** Refuses an empty `ifMatch` on delete (`E_INVALID_ARGUMENT`). */
export function checkDelete(key: string, opts: DeleteOptions): void {
  if (typeof opts !== "object" || opts === null)
    throw invalidArgument(`delete ${key}: options must be an object`, key);
  if (opts.ifMatch !== undefined && (typeof opts.ifMatch !== "string" || opts.ifMatch === ""))
    throw invalidArgument(`delete ${key}: ifMatch must be a non-empty etag`, key);
}

/** Byte order of the UTF-8 encoding — the order S3 lists keys in, and every driver's `list`. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/**
 * Whether a listing leaves `key` (under `prefix`) out: it is not after `options.startAfter`, or it
 * lies in a folder `options.skip` refuses (asking about each of its folders below the prefix,
 * outermost first). For drivers that filter listed keys rather than walk folders.
 */
export function isSkipped(key: string, prefix: string, options: ListOptions | undefined): boolean {
  if (options?.startAfter !== undefined && compareKeys(key, options.startAfter) <= 0) return true;
  const skip = options?.skip;
  if (skip === undefined) return false;
  // A folder below the prefix is longer than it: its '/' is at or after the prefix's end.
  for (let slash = key.indexOf("/", prefix.length); slash >= 0; slash = key.indexOf("/", slash + 1))
    if (skip(key.slice(0, slash + 1))) return true;
  return false;
}
