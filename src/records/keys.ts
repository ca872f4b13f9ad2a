import { InvalidNameError, StateKeeperError, truncateForMessage } from "../errors.js";
import { hasControlCharacter } from "../internal/text.js";
import { folderPrefix } from "../objectstore/kit.js";

/** Longest resource id, in UTF-8 bytes. Escaped, it takes at most three times as many. */
export const MAX_RESOURCE_ID_BYTES = 256;
/** Longest records prefix, in UTF-8 bytes, so prefix + escaped id + suffix stays under 1024. */
export const MAX_RECORDS_PREFIX_BYTES = 200;

export const RECORD_SUFFIX = ".json";
export const LOCK_SUFFIX = ".lock";

const UNESCAPED_BYTE = /^[A-Za-z0-9_-]$/;
const ESCAPED_ID = /^(?:[A-Za-z0-9_-]|%[0-9A-F]{2})+$/;

/**
 * Refuses ids that cannot round-trip or that no caller means: empty, control characters
 * (C0, DEL, C1), malformed unicode, longer than `MAX_RESOURCE_ID_BYTES`. Everything else —
 * `/`, `\`, `%`, spaces, `.`, `..`, any unicode — is a valid id and is escaped by `escapeResourceId`.
 */
export function validateResourceId(id: unknown): string {
  if (typeof id !== "string") throw new InvalidNameError("resource id", String(id), "must be a string");
  if (id.length === 0) throw new InvalidNameError("resource id", id, "must not be empty");
  if (hasControlCharacter(id))
    throw new InvalidNameError("resource id", id, "must not contain control characters");
  if (!id.isWellFormed()) throw new InvalidNameError("resource id", id, "must be well-formed unicode");
  if (Buffer.byteLength(id, "utf8") > MAX_RESOURCE_ID_BYTES)
    throw new InvalidNameError("resource id", id, `longer than ${MAX_RESOURCE_ID_BYTES} bytes`);
  return id;
}

/** Longest key segment an escaped id is split into: file systems allow 255 bytes per name, and the file driver's temp names add ~30. */
export const MAX_ESCAPED_SEGMENT_BYTES = 120;

/**
 * Maps an id to a key path, losslessly: every UTF-8 byte outside `[A-Za-z0-9_-]` becomes `%XX`
 * (upper-case hex), and the result is cut into segments of at most `MAX_ESCAPED_SEGMENT_BYTES`
 * (never inside an `%XX`) so a long id still fits a file name. Segments never contain `.`, so
 * none is `.`/`..` and the `.json`/`.lock` suffix is unambiguous. The original replaced `/` and
 * `\` with `_`, so `a/b`, `a\b` and `a_b` shared one object.
 */
export function escapeResourceId(id: string): string {
  const segments: string[] = [];
  let current = "";
  for (const byte of Buffer.from(validateResourceId(id), "utf8")) {
    const ch = String.fromCharCode(byte);
    const token = UNESCAPED_BYTE.test(ch) ? ch : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
    if (current.length + token.length > MAX_ESCAPED_SEGMENT_BYTES) {
      segments.push(current);
      current = "";
    }
    current += token;
  }
  segments.push(current);
  return segments.join("/");
}

/**
 * The id an escaped key path stands for, or `undefined` when the path is not the canonical
 * escape of a valid id (a foreign or hand-made object).
 */
export function unescapeResourceId(escaped: string): string | undefined {
  const joined = escaped.split("/").join("");
  if (!ESCAPED_ID.test(joined)) return undefined;
  const bytes: number[] = [];
  for (let i = 0; i < joined.length; ) {
    if (joined[i] === "%") {
      bytes.push(Number.parseInt(joined.slice(i + 1, i + 3), 16));
      i += 3;
    } else {
      bytes.push(joined.charCodeAt(i));
      i += 1;
    }
  }
  const id = new TextDecoder("utf-8", { fatal: false }).decode(Uint8Array.from(bytes));
  try {
    return escapeResourceId(id) === escaped ? id : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Validates a records prefix; a non-empty prefix without a trailing `/` gets one, so
 * `"iac-state"` and `"iac-state/"` name the same folder.
 */
export function normalizeRecordsPrefix(prefix: unknown): string {
  if (typeof prefix !== "string")
    throw new InvalidNameError("records prefix", String(prefix), "must be a string");
  const normalized = folderPrefix(prefix);
  if (Buffer.byteLength(normalized, "utf8") > MAX_RECORDS_PREFIX_BYTES)
    throw new InvalidNameError("records prefix", prefix, `longer than ${MAX_RECORDS_PREFIX_BYTES} bytes`);
  return normalized;
}

/** Store key of a record: `<prefix><escaped id>.json`. */
export function recordKey(prefix: string, id: string): string {
  return `${prefix}${escapeResourceId(id)}${RECORD_SUFFIX}`;
}

/** Store key of a record's lock: `<prefix><escaped id>.lock`. */
export function lockKey(prefix: string, id: string): string {
  return `${prefix}${escapeResourceId(id)}${LOCK_SUFFIX}`;
}

/** What a listed key is: a record (with its id), a lock, a record-like key that does not decode, or foreign. */
export type ListedKey =
  | { kind: "record"; id: string | undefined }
  | { kind: "lock" }
  | { kind: "undecodable"; name: string }
  | { kind: "foreign" };

export function classifyKey(prefix: string, key: string): ListedKey {
  if (!key.startsWith(prefix)) return { kind: "foreign" };
  const rest = key.slice(prefix.length);
  if (rest.endsWith(LOCK_SUFFIX)) return { kind: "lock" };
  if (!rest.endsWith(RECORD_SUFFIX)) return { kind: "foreign" };
  const name = rest.slice(0, -RECORD_SUFFIX.length);
  const id = unescapeResourceId(name);
  return id === undefined ? { kind: "undecodable", name } : { kind: "record", id };
}

/** How record keys are laid out in the store (docs/records.md, "Key layouts"). */
export const RECORD_LAYOUTS = ["statekeeper", "spaces"] as const;
export type RecordLayoutName = (typeof RECORD_LAYOUTS)[number];

/**
 * One key scheme: where a record and its lock live, and what a listed key is. In the spaces
 * layout a key does not say which id it holds (the mapping is lossy), so a listed record's id
 * is `undefined` and is read from the record's body.
 */
export interface RecordLayout {
  readonly name: RecordLayoutName;
  recordKey(prefix: string, id: string): string;
  lockKey(prefix: string, id: string): string;
  classify(prefix: string, key: string): ListedKey;
}

/**
 * The name DigitalOcean's Spaces state store gives an id: `/` and `\` replaced by `_` (its Go
 * `sanitizeID`), nothing else changed. Lossy: `a/b`, `a\b` and `a_b` get the same name.
 */
export function spacesName(id: string): string {
  return validateResourceId(id).replaceAll("/", "_").replaceAll("\\", "_");
}

/** statekeeper's lossless `%XX` keys. */
export const STATEKEEPER_LAYOUT: RecordLayout = {
  name: "statekeeper",
  recordKey,
  lockKey,
  classify: classifyKey,
};

/**
 * DigitalOcean's Spaces state store's keys (its Go `stateKey`/`lockKey`): `<prefix><name>.json`
 * and `<prefix><name>.lock` with the name from `spacesName`. Every `.json` object under the
 * prefix is a record, as its `ListStates` reads them; the id comes from the body.
 */
export const SPACES_LAYOUT: RecordLayout = {
  name: "spaces",
  recordKey: (prefix, id) => `${prefix}${spacesName(id)}${RECORD_SUFFIX}`,
  lockKey: (prefix, id) => `${prefix}${spacesName(id)}${LOCK_SUFFIX}`,
  classify(prefix, key) {
    if (!key.startsWith(prefix)) return { kind: "foreign" };
    if (key.endsWith(LOCK_SUFFIX)) return { kind: "lock" };
    if (!key.endsWith(RECORD_SUFFIX)) return { kind: "foreign" };
    return { kind: "record", id: undefined };
  },
};

/** The layout a name stands for; anything else is `E_INVALID_CONFIG`, before any I/O. */
export function recordLayout(name: unknown = "statekeeper"): RecordLayout {
  if (name === "statekeeper") return STATEKEEPER_LAYOUT;
  if (name === "spaces") return SPACES_LAYOUT;
  throw new StateKeeperError(
    "E_INVALID_CONFIG",
    `records: unknown layout ${JSON.stringify(truncateForMessage(String(name)))} (use ${RECORD_LAYOUTS.join(" or ")})`,
    { details: { option: "layout" } },
  );
}
