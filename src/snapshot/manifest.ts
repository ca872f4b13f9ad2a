/**
 * Storage format 2: a revision is a small **manifest** over immutable **chunks** of entries
 * (see docs/design.md, "Storage format 2"). This file owns the two stored forms — the manifest
 * JSON and a chunk's text — and nothing about where they live or how they are sealed (that is
 * `src/backend/chunks.ts`).
 *
 * Manifest (compact canonical JSON, keys sorted):
 * `{"format-version": 2, "stack": {factory info}, "deployment-id", "generated-at", "outputs"?,
 * "parent-revision"?, "chunks": [{"id", "sha256", "entries", "first", "last", "size"}]}`, or, for a
 * small state, `"entries": [...]` inline instead of `"chunks"`. Entries are sorted by address and
 * in the stored (unobin, kebab-case) entry form that `codec.ts` writes.
 */
import { StateKeeperError, truncateForMessage } from "../errors.js";
import type { EncodedEntry } from "./chunks.js";
import { fromStoredEntry, toStoredEntry } from "./codec.js";
import { isPlainObject, NotJsonError, own, serializeSorted } from "./json.js";
import type { Entry, FactoryInfo, JsonObject } from "./types.js";
import { describeEntry, notJsonToError } from "./validate.js";

/** The `format-version` of a manifest. Format 1 is the plain snapshot (`FORMAT_VERSION`). */
export const MANIFEST_FORMAT_VERSION = 2;

/** States whose encoded entries are smaller than this are kept inline in the manifest: one object per commit. */
export const INLINE_MAX_BYTES = 16 * 1024;

/** One chunk a manifest references. */
export interface ChunkRef {
  /** Its name in the store (`chunks/<id>`): the plaintext's SHA-256 under the noop encrypter, else random. */
  readonly id: string;
  /** SHA-256 of the chunk's plaintext, checked on every read. */
  readonly sha256: string;
  /** How many entries it holds (at least one). */
  readonly entries: number;
  /** Address of its first and last entry. */
  readonly first: string;
  readonly last: string;
  /** Plaintext bytes. */
  readonly size: number;
}

export interface Manifest {
  factory: FactoryInfo;
  /** `deployment-id`. */
  stack: string;
  generatedAt: string;
  outputs?: JsonObject;
  /** The rev that was current when it was written (`""` for a first commit). */
  parentRevision?: string;
  /** Either chunks … */
  chunks?: ChunkRef[];
  /** … or the entries themselves, inline (stored form), for a small state. */
  entries?: EncodedEntry[];
}

/** An entry's stored text: canonical compact JSON of its stored form. A non-JSON value names the entry. */
export function encodeEntry(e: Entry, index: number): EncodedEntry {
  try {
    return { address: e.address, text: serializeSorted(toStoredEntry(e), 0) };
  } catch (err) {
    if (!(err instanceof NotJsonError)) throw err;
    throw notJsonToError(err, describeEntry(index, e.address));
  }
}

/** The stored form of a manifest. */
export function encodeManifest(m: Manifest): Uint8Array {
  const doc: Record<string, unknown> = {
    "format-version": MANIFEST_FORMAT_VERSION,
    stack: {
      name: m.factory.name,
      version: m.factory.version,
      "content-revision": m.factory.contentRevision,
    },
    "deployment-id": m.stack,
    "generated-at": m.generatedAt,
  };
  if (m.outputs !== undefined && Object.keys(m.outputs).length > 0) doc.outputs = m.outputs;
  if (m.parentRevision !== undefined) doc["parent-revision"] = m.parentRevision;
  // Inline entries are parsed back from their canonical text: an inline state is small by definition.
  if (m.entries !== undefined) doc.entries = m.entries.map((e) => JSON.parse(e.text) as unknown);
  else doc.chunks = (m.chunks ?? []).map((c) => ({ ...c }));
  return new TextEncoder().encode(`${serializeSorted(doc, 0)}\n`);
}

function corrupt(message: string, details: Record<string, unknown> = {}): never {
  throw new StateKeeperError("E_CORRUPT", message, { details });
}

const HEX64 = /^[0-9a-f]{64}$/;
const CHUNK_ID = /^[0-9a-f]{32,64}$/;

function isCount(v: unknown, min: number): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= min;
}

function decodeChunkRef(raw: unknown, index: number): ChunkRef {
  if (!isPlainObject(raw)) return corrupt(`manifest chunk ${index} is not an object`);
  const id = own(raw, "id");
  const sha256 = own(raw, "sha256");
  const entries = own(raw, "entries");
  const first = own(raw, "first");
  const last = own(raw, "last");
  const size = own(raw, "size");
  if (typeof id !== "string" || !CHUNK_ID.test(id)) return corrupt(`manifest chunk ${index} has no valid id`);
  if (typeof sha256 !== "string" || !HEX64.test(sha256))
    return corrupt(`manifest chunk ${id} has no valid sha256`, { chunk: id });
  if (!isCount(entries, 1) || !isCount(size, 2) || typeof first !== "string" || typeof last !== "string")
    return corrupt(`manifest chunk ${id} has invalid entries, size, first or last`, { chunk: id });
  return { id, sha256, entries, first, last, size };
}

/**
 * A manifest from its parsed stored object. Its shape is checked here (`E_CORRUPT`); the entries
 * and snapshot fields are validated when the snapshot is assembled.
 */
export function manifestFromObject(doc: Record<string, unknown>): Manifest {
  if (own(doc, "format-version") !== MANIFEST_FORMAT_VERSION) corrupt("not a format-2 manifest");
  const rawFactory = own(doc, "stack");
  if (!isPlainObject(rawFactory))
    throw new StateKeeperError("E_INVALID_SNAPSHOT", "stack (factory info) must be an object", {
      details: { rule: "factory" },
    });
  const m: Manifest = {
    factory: {
      name: own(rawFactory, "name") ?? "",
      version: own(rawFactory, "version") ?? "",
      contentRevision: own(rawFactory, "content-revision") ?? "",
    } as FactoryInfo,
    stack: own(doc, "deployment-id") as string,
    generatedAt: own(doc, "generated-at") as string,
  };
  const outputs = own(doc, "outputs");
  if (outputs !== undefined && outputs !== null) m.outputs = outputs as JsonObject;
  const parent = own(doc, "parent-revision");
  if (typeof parent === "string") m.parentRevision = parent;
  const chunks = own(doc, "chunks");
  const entries = own(doc, "entries");
  if ((chunks === undefined) === (entries === undefined))
    corrupt("a manifest holds either chunks or entries, and exactly one of them");
  if (chunks !== undefined) {
    if (!Array.isArray(chunks)) corrupt("manifest chunks must be a list");
    m.chunks = chunks.map(decodeChunkRef);
  } else {
    if (!Array.isArray(entries)) corrupt("manifest entries must be a list");
    m.entries = entries.map(rawToEncoded);
  }
  return m;
}

function rawToEncoded(raw: unknown): EncodedEntry {
  const address = isPlainObject(raw) ? own(raw, "address") : undefined;
  // The text is only used to re-chunk; anything malformed is refused when the entries are validated.
  return { address: typeof address === "string" ? address : "", text: serializeSorted(raw, 0) };
}

/** Entries (in-memory form, not yet validated) from a chunk's plaintext, checked against its reference. */
export function decodeChunk(text: string, ref: ChunkRef, rev: string): unknown[] {
  const entries = parseChunk(text, ref, rev).map(fromStoredEntry);
  const address = (e: unknown) => (isPlainObject(e) ? e.address : undefined);
  checkEnds(address(entries[0]), address(entries.at(-1)), ref, rev);
  return entries;
}

/** Encoded entries from a chunk's plaintext (digest already verified), checked against its reference, for re-chunking. */
export function chunkEntries(text: string, ref: ChunkRef, rev: string): EncodedEntry[] {
  const entries = parseChunk(text, ref, rev).map(rawToEncoded);
  checkEnds(entries[0]?.address, entries.at(-1)?.address, ref, rev);
  return entries;
}

function parseChunk(text: string, ref: ChunkRef, rev: string): unknown[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return chunkCorrupt(ref, rev, "is not valid JSON");
  }
  if (!Array.isArray(raw)) return chunkCorrupt(ref, rev, "is not a list of entries");
  if (raw.length !== ref.entries)
    return chunkCorrupt(ref, rev, `holds ${raw.length} entries, its manifest says ${ref.entries}`);
  return raw;
}

function chunkCorrupt(ref: ChunkRef, rev: string, why: string): never {
  return corrupt(`chunk ${ref.id} of revision ${rev} ${why}`, { rev, chunk: ref.id });
}

function checkEnds(first: unknown, last: unknown, ref: ChunkRef, rev: string): void {
  if (first !== ref.first || last !== ref.last)
    chunkCorrupt(
      ref,
      rev,
      `does not start and end with the addresses its manifest names (${JSON.stringify(truncateForMessage(ref.first))} … ${JSON.stringify(truncateForMessage(ref.last))})`,
    );
}

/** Entries (in-memory form, not yet validated) of an inline manifest. */
export function inlineEntries(m: Manifest): unknown[] {
  return (m.entries ?? []).map((e) => fromStoredEntry(JSON.parse(e.text)));
}
