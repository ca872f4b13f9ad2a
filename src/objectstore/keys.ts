import { InvalidNameError } from "../errors.js";

/** Longest key any driver accepts, in UTF-8 bytes (S3's own limit). */
export const MAX_KEY_BYTES = 1024;

/**
 * Refuses keys that could escape a store's root or be read differently by different stores:
 * empty, absolute, `.`/`..` or empty segments, backslashes, control characters, over-long.
 * Called by every driver before any I/O.
 */
export function validateKey(key: string, what = "store key"): string {
  if (typeof key !== "string" || key.length === 0)
    throw new InvalidNameError(what, String(key), "must not be empty");
  if (Buffer.byteLength(key, "utf8") > MAX_KEY_BYTES)
    throw new InvalidNameError(what, key, `longer than ${MAX_KEY_BYTES} bytes`);
  if (key.startsWith("/")) throw new InvalidNameError(what, key, "must be relative (no leading '/')");
  if (key.includes("\\")) throw new InvalidNameError(what, key, "must not contain a backslash");
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(key))
    throw new InvalidNameError(what, key, "must not contain control characters");
  if (!key.isWellFormed()) throw new InvalidNameError(what, key, "must be well-formed unicode");
  for (const segment of key.split("/")) {
    if (segment === "")
      throw new InvalidNameError(what, key, "must not contain empty segments ('//' or a trailing '/')");
    if (segment === "." || segment === "..")
      throw new InvalidNameError(what, key, "must not contain '.' or '..' segments");
  }
  return key;
}

/** Like `validateKey`, for list prefixes: the empty prefix and a trailing '/' are allowed. */
export function validatePrefix(prefix: string): string {
  if (prefix === "") return prefix;
  validateKey(prefix.endsWith("/") ? prefix.slice(0, -1) : prefix, "store prefix");
  return prefix;
}
