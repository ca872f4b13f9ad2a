import { isStateKeeperError, StateKeeperError, truncateForMessage } from "../errors.js";
import { assertViewMatches, documentView } from "./document.js";
import { isPlainObject, NotJsonError, own, serializeSorted } from "./json.js";
import { compareCodePoints, newRevision } from "./revision.js";
import {
  type Entry,
  type FactoryInfo,
  FORMAT_VERSION,
  MAX_SNAPSHOT_BYTES,
  type Snapshot,
  type StateDocument,
} from "./types.js";
import { describeEntry, notJsonToError, validateDecodedSnapshot, validateSnapshot } from "./validate.js";

/** Where a backend records the rev a revision replaced (see `EncodeOptions.parentRevision`). */
const PARENT_FIELD = "parent-revision";
/** Where a backend records who committed a revision (see `EncodeOptions.committedBy`). */
const COMMITTED_BY_FIELD = "committed-by";

/** unobin's JSON name → in-memory name for the optional entry fields (all omitted when empty). */
const OPTIONAL_ENTRY_FIELDS = [
  ["kind", "kind"],
  ["schema-version", "schemaVersion"],
  ["sensitive-inputs", "sensitiveInputs"],
  ["sensitive-outputs", "sensitiveOutputs"],
  ["library", "library"],
  ["library-type", "libraryType"],
  ["configuration", "configuration"],
  ["trigger-hash", "triggerHash"],
  ["inputs", "inputs"],
  ["outputs", "outputs"],
  ["depends-on", "dependsOn"],
] as const;

function invalidArgument(message: string): never {
  throw new StateKeeperError("E_INVALID_ARGUMENT", message);
}

/** An empty snapshot at the current format version, stamped with the current time. */
export function newSnapshot(factory: FactoryInfo, stack: string): Snapshot {
  if (!isPlainObject(factory)) invalidArgument("factory info must be an object");
  if (typeof factory.name !== "string" || factory.name === "")
    invalidArgument("factory name must be a non-empty string");
  if (typeof factory.version !== "string") invalidArgument("factory version must be a string");
  if (typeof factory.contentRevision !== "string")
    invalidArgument("factory contentRevision must be a string");
  if (typeof stack !== "string" || stack === "") invalidArgument("stack must be a non-empty string");
  return {
    formatVersion: FORMAT_VERSION,
    factory: { name: factory.name, version: factory.version, contentRevision: factory.contentRevision },
    stack,
    generatedAt: newRevision(),
    entries: [],
  };
}

function isEmpty(value: unknown): boolean {
  if (value === undefined || value === null || value === "" || value === 0) return true;
  if (Array.isArray(value)) return value.length === 0;
  return isPlainObject(value) && Object.keys(value).length === 0;
}

/** An entry in its stored form (unobin's kebab-case names, empty optional fields omitted). */
export function toStoredEntry(e: Entry): Record<string, unknown> {
  const out: Record<string, unknown> = { address: e.address, type: e.type };
  for (const [storedName, name] of OPTIONAL_ENTRY_FIELDS) {
    if (!isEmpty(e[name])) out[storedName] = e[name];
  }
  return out;
}

export interface EncodeOptions {
  /**
   * The rev that was current when this revision was written (`""` for a stack's first commit),
   * stored as `parent-revision` so `verify` can follow the line of history and tell commits that
   * never became current. Only the backend sets it; readers of the format ignore the field.
   */
  parentRevision?: string;
  /**
   * `user@host` of the process committing the revision, stored as `committed-by` so history can
   * name an author per revision. Only the backend sets it; readers of the format ignore the field.
   */
  committedBy?: string;
  /** Refuse an encoding larger than this many bytes. Default `MAX_SNAPSHOT_BYTES`. */
  maxBytes?: number;
}

/**
 * Validates, then writes the format unobin's localstate and s3state write: pretty JSON
 * (2 spaces), keys sorted at every depth, a trailing newline, empty optional fields omitted. Two
 * encodes of equal snapshots are byte-identical. A non-JSON value anywhere is
 * `E_INVALID_SNAPSHOT` naming where it was. An encoding over the size limit is `E_TOO_LARGE`:
 * what is written must be readable again, and every reader caps what it decodes.
 */
/**
 * The stored form of `s` with its entries in address order: equal for two snapshots that differ
 * only in entry order, which is free (format 2 reads entries back sorted). Comparisons of content
 * across stores and formats (migrate) use it.
 */
export function encodeCanonical(s: Snapshot): Uint8Array {
  const sorted = [...s.entries].sort((a, b) => compareCodePoints(a.address, b.address));
  return encodeSnapshot({ ...s, entries: sorted });
}

export function encodeSnapshot(s: Snapshot, options: EncodeOptions = {}): Uint8Array {
  const maxBytes = options.maxBytes ?? MAX_SNAPSHOT_BYTES;
  validateSnapshot(s, { deep: false });
  assertViewMatches(s);
  const doc: Record<string, unknown> = {
    "format-version": s.formatVersion,
    stack: {
      name: s.factory.name,
      version: s.factory.version,
      "content-revision": s.factory.contentRevision,
    },
    "deployment-id": s.stack,
    "generated-at": s.generatedAt,
  };
  // A document is stored instead of entries and outputs (its view); readers that do not know
  // documents find no entries list and refuse the revision rather than read it as empty.
  if (s.document !== undefined) doc.document = { "media-type": s.document.mediaType, text: s.document.text };
  else {
    doc.entries = s.entries.map(toStoredEntry);
    if (!isEmpty(s.outputs)) doc.outputs = s.outputs;
  }
  if (options.parentRevision !== undefined) doc[PARENT_FIELD] = options.parentRevision;
  if (options.committedBy !== undefined) doc[COMMITTED_BY_FIELD] = options.committedBy;
  let text: string;
  try {
    text = serializeSorted(doc);
  } catch (e) {
    // V8 cannot hold a string that long: the encoding is far over any limit.
    if (e instanceof RangeError)
      throw tooLarge(`snapshot is too large to encode (over ${maxBytes} bytes)`, maxBytes);
    if (!(e instanceof NotJsonError)) throw e;
    // Re-anchor the path on the entry so the message names its address.
    const [top, index, ...rest] = e.path;
    if (top === "entries" && typeof index === "number")
      throw notJsonToError(new NotJsonError(rest, e.reason), describeEntry(index, s.entries[index]?.address));
    throw notJsonToError(e, "snapshot");
  }
  // Every UTF-16 unit is at least one UTF-8 byte, so a long text is over the limit without
  // counting; either way the check comes before the encoded copy is allocated.
  const size = text.length >= maxBytes ? text.length + 1 : Buffer.byteLength(text, "utf8") + 1;
  if (size > maxBytes)
    throw tooLarge(
      `snapshot encodes to ${text.length >= maxBytes ? "more than " : ""}${size} bytes, over the ${maxBytes}-byte limit that every reader enforces`,
      maxBytes,
      size,
    );
  return new TextEncoder().encode(`${text}\n`);
}

function tooLarge(message: string, maxBytes: number, size?: number): StateKeeperError {
  return new StateKeeperError("E_TOO_LARGE", message, {
    details: { maxBytes, ...(size === undefined ? {} : { size }) },
  });
}

export interface DecodeOptions {
  /** Refuse inputs larger than this many bytes before parsing. Default `MAX_SNAPSHOT_BYTES`. */
  maxBytes?: number;
}

function corrupt(message: string): never {
  throw new StateKeeperError("E_CORRUPT", message);
}

function byteLength(input: Uint8Array | string, maxBytes: number): number {
  if (typeof input !== "string") return input.byteLength;
  // Every UTF-16 unit is at least one UTF-8 byte: a long string is over the cap without counting.
  return input.length > maxBytes ? input.length : Buffer.byteLength(input, "utf8");
}

function toText(input: Uint8Array | string): string {
  if (typeof input === "string") return input;
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(input);
  } catch (e) {
    // V8 caps string length (~512 MiB): a buffer under maxBytes can still be too long to hold as text.
    if (e instanceof RangeError)
      throw new StateKeeperError("E_TOO_LARGE", "snapshot is too large to decode as text");
    return corrupt("snapshot is not valid UTF-8");
  }
}

function parseDocument(text: string): Record<string, unknown> {
  let doc: unknown;
  try {
    // JSON.parse defines "__proto__" as an own data property, so nothing reaches a prototype.
    doc = JSON.parse(text);
  } catch {
    // The parser's message quotes the input, which may hold secrets: keep it out.
    return corrupt("snapshot is not valid JSON");
  }
  if (!isPlainObject(doc)) return corrupt("snapshot is not a JSON object");
  return doc;
}

function checkFormatVersion(doc: Record<string, unknown>): void {
  const found = own(doc, "format-version");
  if (found === FORMAT_VERSION) return;
  const shown =
    found === undefined
      ? "(missing)"
      : typeof found === "number"
        ? String(found)
        : truncateForMessage(JSON.stringify(found) ?? typeof found, 40);
  throw new StateKeeperError(
    "E_FORMAT_VERSION",
    `unsupported format-version ${shown} (this build expects ${FORMAT_VERSION})`,
    { details: { found: typeof found === "object" ? shown : found, expected: FORMAT_VERSION } },
  );
}

/** An entry from its stored form; anything that is not an object is returned as is, for validation to refuse. */
export function fromStoredEntry(raw: unknown): unknown {
  if (!isPlainObject(raw)) return raw;
  const entry: Record<string, unknown> = { address: own(raw, "address"), type: own(raw, "type") };
  for (const [storedName, name] of OPTIONAL_ENTRY_FIELDS) {
    const value = own(raw, storedName);
    // Go decodes null into the zero value, i.e. "absent"; do the same.
    if (value !== undefined && value !== null) entry[name] = value;
  }
  return entry;
}

function fromStoredDocument(doc: Record<string, unknown>): Record<string, unknown> {
  const rawFactory = own(doc, "stack");
  if (!isPlainObject(rawFactory))
    throw new StateKeeperError("E_INVALID_SNAPSHOT", "stack (factory info) must be an object", {
      details: { rule: "factory" },
    });
  const rawEntries = own(doc, "entries");
  const rawDocument = own(doc, "document");
  const snapshot: Record<string, unknown> = {
    formatVersion: own(doc, "format-version"),
    factory: {
      name: own(rawFactory, "name") ?? "",
      version: own(rawFactory, "version") ?? "",
      contentRevision: own(rawFactory, "content-revision") ?? "",
    },
    stack: own(doc, "deployment-id"),
    generatedAt: own(doc, "generated-at"),
    // The Go original writes `null` for no entries.
    entries: rawEntries === undefined || rawEntries === null ? [] : rawEntries,
  };
  if (Array.isArray(rawEntries)) snapshot.entries = rawEntries.map(fromStoredEntry);
  const outputs = own(doc, "outputs");
  if (outputs !== undefined && outputs !== null) snapshot.outputs = outputs;
  if (rawDocument !== undefined) {
    if (rawEntries !== undefined || outputs !== undefined)
      throw new StateKeeperError(
        "E_INVALID_SNAPSHOT",
        "a snapshot with a document stores no entries or outputs",
        {
          details: { rule: "document" },
        },
      );
    if (!isPlainObject(rawDocument))
      throw new StateKeeperError("E_INVALID_SNAPSHOT", "document must be an object", {
        details: { rule: "document" },
      });
    const document = {
      mediaType: own(rawDocument, "media-type"),
      text: own(rawDocument, "text"),
    } as StateDocument;
    const view = documentView(document);
    snapshot.entries = view.entries;
    if (view.outputs !== undefined) snapshot.outputs = view.outputs;
    snapshot.document = document;
  }
  return snapshot;
}

/**
 * Parses a snapshot: size cap (before any parsing) → `E_TOO_LARGE`; not UTF-8 JSON →
 * `E_CORRUPT`; a format-version other than 1 → `E_FORMAT_VERSION`; then full validation →
 * `E_INVALID_SNAPSHOT`. Unknown fields are ignored. Only StateKeeperErrors escape.
 */
export function decodeSnapshot(input: Uint8Array | string, options: DecodeOptions = {}): Snapshot {
  return decodeStoredSnapshot(input, options).snapshot;
}

/** A snapshot as a revision stores it: the snapshot, and the rev it was written to replace. */
export interface StoredSnapshot {
  snapshot: Snapshot;
  /**
   * The rev that was current when this revision was written; `""` for a stack's first commit;
   * `undefined` when the revision does not say (written before statekeeper recorded it, or by
   * another tool).
   */
  parentRevision: string | undefined;
  /** `user@host` of the process that committed it, when the revision records it. */
  committedBy?: string;
}

/** `decodeSnapshot`, also returning the `parent-revision` a backend stored with the snapshot. */
export function decodeStoredSnapshot(
  input: Uint8Array | string,
  options: DecodeOptions = {},
): StoredSnapshot {
  return decodeStoredObject(input, options, storedSnapshotFromObject);
}

/** A format-1 snapshot from its parsed stored object (format version, then full validation). */
export function storedSnapshotFromObject(doc: Record<string, unknown>): StoredSnapshot {
  checkFormatVersion(doc);
  const snapshot = fromStoredDocument(doc);
  // Entries decoded from stored text were made by JSON.parse; a document's view was not.
  if (snapshot.document === undefined) validateDecodedSnapshot(snapshot);
  else validateSnapshot(snapshot);
  const parent = own(doc, PARENT_FIELD);
  const committedBy = own(doc, COMMITTED_BY_FIELD);
  return {
    snapshot,
    parentRevision: typeof parent === "string" ? parent : undefined,
    ...(typeof committedBy === "string" ? { committedBy } : {}),
  };
}

/**
 * The decoding frame every stored object goes through: size cap (before any parsing) →
 * `E_TOO_LARGE`; not UTF-8 JSON, or not an object → `E_CORRUPT`; then `decode` on the parsed
 * object. Only StateKeeperErrors escape. The backend reads format-1 snapshots and format-2
 * manifests through it (see `src/snapshot/manifest.ts`).
 */
export function decodeStoredObject<T>(
  input: Uint8Array | string,
  options: DecodeOptions,
  decode: (doc: Record<string, unknown>) => T,
): T {
  const maxBytes = options.maxBytes ?? MAX_SNAPSHOT_BYTES;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0)
    invalidArgument("maxBytes must be a non-negative integer");
  if (typeof input !== "string" && !(input instanceof Uint8Array))
    invalidArgument("a snapshot must be decoded from a Uint8Array or a string");
  try {
    const size = byteLength(input, maxBytes);
    if (size > maxBytes)
      throw new StateKeeperError(
        "E_TOO_LARGE",
        `snapshot is ${size} bytes, over the ${maxBytes}-byte limit`,
        {
          details: { size, maxBytes },
        },
      );
    return decode(parseDocument(toText(input)));
  } catch (e) {
    if (isStateKeeperError(e)) throw e;
    // Deliberately no `cause`: engine errors can quote the (possibly secret) input.
    throw new StateKeeperError("E_CORRUPT", "snapshot could not be decoded");
  }
}
