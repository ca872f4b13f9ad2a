/**
 * Storage format 2: a revision is a small **manifest** over immutable **chunks** of entries
 * (see docs/design.md, "Storage format 2"). This file owns the two stored forms — the manifest
 * JSON and a chunk's text — and nothing about where they live or how they are sealed (that is
 * `src/backend/chunks.ts`).
 *
 * Manifest (compact canonical JSON, keys sorted):
 * `{"format-version": 2, "stack": {factory info}, "deployment-id", "generated-at", "outputs"?,
 * "parent-revision"?, <the entries>}` where the entries are one of
 * - `"entries": [...]` inline, for a small state;
 * - `"chunk-list": {"id", "sha256", "size", "chunks"}`, a reference to a **chunk list** (an object
 *   stored like a chunk whose plaintext is `{"format-version": 2, "chunks": [chunk refs]}`), plus an
 *   optional **overlay** on top of it: `"upsert": [entries]` (new or replaced) and `"remove":
 *   [addresses]` (entries of the list's chunks that are gone). A commit of a few changes writes the
 *   manifest with a grown overlay and nothing else; once the overlay is large, a **checkpoint**
 *   folds it into new chunks and a new chunk list (see `src/backend/chunk-store.ts`);
 * - `"chunks": [chunk refs]` inline (revisions written before chunk lists existed; still read).
 * A chunk ref is `{"id", "sha256", "entries", "first", "size"}` (older ones also carry `"last"`,
 * checked when present). Entries are sorted by address and in the stored (unobin, kebab-case)
 * entry form that `codec.ts` writes.
 */
import { StateKeeperError, truncateForMessage } from "../errors.js";
import type { EncodedEntry } from "./chunks.js";
import { fromStoredEntry, toStoredEntry } from "./codec.js";
import { isPlainObject, NotJsonError, own, serializeSorted } from "./json.js";
import type { Entry, FactoryInfo, JsonObject } from "./types.js";
import { describeEntry, notJsonToError } from "./validate.js";

/** The `format-version` of a manifest. Format 1 is the plain snapshot (`FORMAT_VERSION`). */
export const MANIFEST_FORMAT_VERSION = 2;

/**
 * States whose encoded entries are smaller than half a chunk (16 KiB at the default 32 KiB) are
 * kept inline in the manifest: one object per commit.
 */
export function inlineMaxBytes(chunkTargetBytes: number): number {
  return Math.floor(chunkTargetBytes / 2);
}

/** One chunk a manifest references. */
export interface ChunkRef {
  /** Its name in the store (`chunks/<id>`): the plaintext's SHA-256 under the noop encrypter, else random. */
  readonly id: string;
  /** SHA-256 of the chunk's plaintext, checked on every read. */
  readonly sha256: string;
  /** How many entries it holds (at least one). */
  readonly entries: number;
  /** Address of its first entry (writers find an address's chunk by bisection on it). */
  readonly first: string;
  /** Address of its last entry: recorded by revisions written before chunk lists, checked when present. */
  readonly last?: string;
  /** Plaintext bytes. */
  readonly size: number;
}

/** A manifest's reference to its chunk list. */
export interface ChunkListRef {
  /** Its name in the store (`chunks/<id>`, chosen as a chunk's is). */
  readonly id: string;
  /** SHA-256 of the list's plaintext. */
  readonly sha256: string;
  /** Plaintext bytes. */
  readonly size: number;
  /** How many chunk refs it holds. */
  readonly chunks: number;
}

/** Changes on top of a chunk list: entries upserted (sorted by address) and addresses removed (sorted). */
export interface Overlay {
  readonly upsert: readonly EncodedEntry[];
  readonly remove: readonly string[];
}

export interface Manifest {
  factory: FactoryInfo;
  /** `deployment-id`. */
  stack: string;
  generatedAt: string;
  outputs?: JsonObject;
  /** The rev that was current when it was written (`""` for a first commit). */
  parentRevision?: string;
  /** `committed-by`: `user@host` of the process that committed it (absent for imported revisions). */
  committedBy?: string;
  /** Exactly one of: a chunk list (with an optional overlay) … */
  chunkList?: ChunkListRef;
  overlay?: Overlay;
  /** … the entries themselves, inline (stored form), for a small state … */
  entries?: EncodedEntry[];
  /** … or chunk refs inline (written before chunk lists; still read, overlay allowed). */
  chunks?: ChunkRef[];
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
  if (m.committedBy !== undefined) doc["committed-by"] = m.committedBy;
  // Inline and overlay entries are parsed back from their canonical text: they are few by design.
  const parsed = (es: readonly EncodedEntry[]) => es.map((e) => JSON.parse(e.text) as unknown);
  if (m.entries !== undefined) doc.entries = parsed(m.entries);
  else if (m.chunkList !== undefined) doc["chunk-list"] = { ...m.chunkList };
  else doc.chunks = (m.chunks ?? []).map((c) => ({ ...c }));
  const upsert = m.overlay !== undefined && m.entries === undefined ? m.overlay.upsert : [];
  if (m.overlay !== undefined && m.entries === undefined && m.overlay.remove.length > 0)
    doc.remove = [...m.overlay.remove];
  const text = serializeSorted(doc, 0);
  if (upsert.length === 0) return new TextEncoder().encode(`${text}\n`);
  // The overlay's entries go in as the canonical text they already are, not parsed back and
  // serialized again: under a held lock every commit re-encodes its whole overlay. "upsert" sorts
  // after every other key of a manifest, so it closes the object.
  return new TextEncoder().encode(
    `${text.slice(0, -1)},"upsert":[${upsert.map((e) => e.text).join(",")}]}\n`,
  );
}

/**
 * One leaf of a two-level chunk list: a chunk list of its own, referenced from the root list.
 * A list too large for one object is cut into leaves at content-defined boundaries (the chunk
 * planner over the refs, keyed by each chunk's first address), so a checkpoint that changes a few
 * chunks rewrites a few leaves and the root, not the whole list.
 */
export interface ChunkListLeafRef {
  readonly id: string;
  readonly sha256: string;
  readonly size: number;
  /** How many chunk refs it holds. */
  readonly chunks: number;
  /** The first address of its first chunk. */
  readonly first: string;
}

/** A chunk list's plaintext: chunk refs (a leaf, or a small list), or leaf refs (a root). */
export type ChunkListBody = { chunks: ChunkRef[] } | { lists: ChunkListLeafRef[] };

/** The stored form of a chunk list (compact canonical JSON). */
export function encodeChunkList(body: ChunkListBody): string {
  return serializeSorted({ "format-version": MANIFEST_FORMAT_VERSION, ...body }, 0);
}

/** A chunk list's plaintext (digest already verified), checked against the count its reference gives. */
export function decodeChunkList(
  text: string,
  ref: { id: string; chunks: number },
  rev: string,
): ChunkListBody {
  const bad = (why: string): never =>
    corrupt(`chunk list ${ref.id} of revision ${rev} ${why}`, { rev, chunk: ref.id });
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return bad("is not valid JSON");
  }
  if (!isPlainObject(raw) || own(raw, "format-version") !== MANIFEST_FORMAT_VERSION)
    return bad("is not a chunk list");
  const chunks = own(raw, "chunks");
  const lists = own(raw, "lists");
  if (Array.isArray(lists) && chunks === undefined) {
    const leaves = lists.map((l, i) => decodeLeafRef(l, i, bad));
    const total = leaves.reduce((n, l) => n + l.chunks, 0);
    if (total !== ref.chunks) return bad(`holds ${total} chunks, its manifest says ${ref.chunks}`);
    return { lists: leaves };
  }
  if (!Array.isArray(chunks) || lists !== undefined) return bad("holds no list of chunks");
  if (chunks.length !== ref.chunks)
    return bad(`holds ${chunks.length} chunks, its manifest says ${ref.chunks}`);
  return { chunks: chunks.map(decodeChunkRef) };
}

function decodeLeafRef(raw: unknown, index: number, bad: (why: string) => never): ChunkListLeafRef {
  if (!isPlainObject(raw)) return bad(`has a leaf ${index} that is not an object`);
  const id = own(raw, "id");
  const sha256 = own(raw, "sha256");
  const size = own(raw, "size");
  const chunks = own(raw, "chunks");
  const first = own(raw, "first");
  if (
    typeof id !== "string" ||
    !CHUNK_ID.test(id) ||
    typeof sha256 !== "string" ||
    !HEX64.test(sha256) ||
    !isCount(size, 2) ||
    !isCount(chunks, 1) ||
    typeof first !== "string"
  )
    return bad(`has an invalid leaf ${index}`);
  return { id, sha256, size, chunks, first };
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
  if (
    !isCount(entries, 1) ||
    !isCount(size, 2) ||
    typeof first !== "string" ||
    (last !== undefined && typeof last !== "string")
  )
    return corrupt(`manifest chunk ${id} has invalid entries, size, first or last`, { chunk: id });
  return last === undefined
    ? { id, sha256, entries, first, size }
    : { id, sha256, entries, first, last, size };
}

function decodeListRef(raw: unknown): ChunkListRef {
  if (!isPlainObject(raw)) return corrupt("manifest chunk-list is not an object");
  const id = own(raw, "id");
  const sha256 = own(raw, "sha256");
  const size = own(raw, "size");
  const chunks = own(raw, "chunks");
  if (typeof id !== "string" || !CHUNK_ID.test(id)) return corrupt("manifest chunk-list has no valid id");
  if (typeof sha256 !== "string" || !HEX64.test(sha256) || !isCount(size, 2) || !isCount(chunks, 0))
    return corrupt(`manifest chunk-list ${id} has an invalid sha256, size or count`, { chunk: id });
  return { id, sha256, size, chunks };
}

function decodeOverlay(doc: Record<string, unknown>): Overlay | undefined {
  const upsert = own(doc, "upsert");
  const remove = own(doc, "remove");
  if (upsert === undefined && remove === undefined) return undefined;
  if ((upsert !== undefined && !Array.isArray(upsert)) || (remove !== undefined && !Array.isArray(remove)))
    return corrupt("manifest upsert and remove must be lists");
  const removed = (remove ?? []) as unknown[];
  if (!removed.every((a) => typeof a === "string" && a !== ""))
    return corrupt("manifest remove must hold addresses");
  return { upsert: ((upsert ?? []) as unknown[]).map(rawToEncoded), remove: removed as string[] };
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
  const committedBy = own(doc, "committed-by");
  if (typeof committedBy === "string") m.committedBy = committedBy;
  const chunks = own(doc, "chunks");
  const entries = own(doc, "entries");
  const list = own(doc, "chunk-list");
  if ([chunks, entries, list].filter((v) => v !== undefined).length !== 1)
    corrupt("a manifest holds exactly one of entries, chunks and chunk-list");
  if (chunks !== undefined) {
    if (!Array.isArray(chunks)) corrupt("manifest chunks must be a list");
    m.chunks = chunks.map(decodeChunkRef);
  } else if (list !== undefined) m.chunkList = decodeListRef(list);
  else {
    if (!Array.isArray(entries)) corrupt("manifest entries must be a list");
    m.entries = entries.map(rawToEncoded);
  }
  const overlay = decodeOverlay(doc);
  if (overlay !== undefined) {
    if (m.entries !== undefined) corrupt("a manifest with inline entries has no upsert or remove");
    m.overlay = overlay;
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
  if (first !== ref.first || (ref.last !== undefined && last !== ref.last))
    chunkCorrupt(
      ref,
      rev,
      `does not start and end with the addresses its manifest names (${JSON.stringify(truncateForMessage(ref.first))} … ${JSON.stringify(truncateForMessage(ref.last ?? "?"))})`,
    );
}

/** Entries (in-memory form, not yet validated) of an inline manifest. */
export function inlineEntries(m: Manifest): unknown[] {
  return (m.entries ?? []).map((e) => fromStoredEntry(JSON.parse(e.text)));
}
