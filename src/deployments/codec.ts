import type { Encrypter } from "../crypto/types.js";
import { InvalidNameError, StateKeeperError } from "../errors.js";

/** Longest deployment id or name (instance, resource, link…) accepted, in characters (the encoded key must stay under S3's 1024 bytes). */
export const MAX_ID_LENGTH = 256;

/** Refuses an id or name before any I/O: empty, over-long, not a string or not well-formed. */
export function checkName(what: string, name: unknown): string {
  if (typeof name !== "string" || name.length === 0)
    throw new InvalidNameError(what, String(name), "must be a non-empty string");
  if (name.length > MAX_ID_LENGTH)
    throw new InvalidNameError(what, name, `longer than ${MAX_ID_LENGTH} characters`);
  if (!name.isWellFormed()) throw new InvalidNameError(what, name, "must be well-formed unicode");
  return name;
}

const KEEP = /^[A-Za-z0-9-]$/;

/**
 * Encodes an id or name as one key segment, losslessly and injectively: ASCII letters, digits
 * and `-` stay, every other UTF-8 byte becomes `_XX`. So `.`/`..`, `/`, `%` and `_` can never
 * smuggle a separator in, and two different names never share a key (`a_b` ≠ `a` + `b`).
 */
export function encodeSegment(name: string): string {
  let out = "";
  for (const ch of name) {
    if (KEEP.test(ch)) out += ch;
    else
      for (const byte of Buffer.from(ch, "utf8"))
        out += `_${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** Own-property read, so ids such as `__proto__` or `constructor` never reach Object.prototype. */
export function ownValue<T>(map: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(map, key) ? map[key] : undefined;
}

/** Own-property write that cannot change a prototype, whatever the key. */
export function setOwn<T>(map: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(map, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Serialises and, with an encrypter, seals a record for `location` (its store key). */
export async function encodeObject(
  value: unknown,
  location: string,
  encrypter?: Encrypter,
): Promise<Uint8Array> {
  const plain = new TextEncoder().encode(JSON.stringify(value));
  return encrypter === undefined ? plain : encrypter.seal(plain, location);
}

/** Opens (when sealed) and parses a stored object; malformed content is `E_CORRUPT` naming the key. */
export async function decodeObject(
  body: Uint8Array,
  location: string,
  encrypter?: Encrypter,
): Promise<unknown> {
  const plain = encrypter === undefined ? body : await encrypter.open(body, location);
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(plain));
  } catch (cause) {
    throw new StateKeeperError("E_CORRUPT", `stored object ${location} is not valid JSON`, {
      cause,
      details: { key: location },
    });
  }
}

/** A stored record must be a JSON object; anything else is corruption, never data. */
export function asRecord<T>(value: unknown, key: string): T {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new StateKeeperError("E_CORRUPT", `stored object ${key} is not a JSON object`, {
      details: { key },
    });
  return value as T;
}

/** Byte size of a value's JSON form, the measure chunk and partition limits use. */
export function jsonSize(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value), "utf8");
}

/**
 * A field earlier versions stamped on every stored record (a random write id, for drivers that
 * settled lost responses by comparing bytes). Writes no longer add it — lost responses are
 * settled by put id in the store's retry layer — and reads drop it from records that still have it.
 */
const LEGACY_WRITE_ID_FIELD = "_writeId";

/** The record without the legacy write id (what callers see). */
export function withoutLegacyWriteId<T>(stored: T): T {
  if (typeof stored !== "object" || stored === null || !Object.hasOwn(stored, LEGACY_WRITE_ID_FIELD))
    return stored;
  const { [LEGACY_WRITE_ID_FIELD]: _writeId, ...record } = stored as Record<string, unknown>;
  return record as T;
}
