/**
 * The chunks of a stack's format-2 revisions in the store (see docs/design.md, "Storage format 2"):
 * writing them create-only and sealed to their location, reading them in parallel with their
 * digests checked, an in-process cache of what was read or written, and the incremental re-chunking
 * of `commitChanges`. The stored forms are in `src/snapshot/manifest.ts`; chunk boundaries in
 * `src/snapshot/chunks.ts`.
 */
import { randomBytes } from "node:crypto";
import { NOOP_KEY_ID } from "../crypto/noop.js";
import type { Encrypter } from "../crypto/types.js";
import { errorKind, StateKeeperError, truncateForMessage } from "../errors.js";
import { mapBounded } from "../internal/bounded.js";
import { LruCache } from "../internal/lru.js";
import { isStoreError, type ObjectStore } from "../objectstore/types.js";
import { chunkText, type EncodedEntry, endsChunk, planChunks, sortEntries } from "../snapshot/chunks.js";
import { fromStoredEntry } from "../snapshot/codec.js";
import { type DiffOptions, diffSnapshots, type SnapshotDiff } from "../snapshot/diff.js";
import { isPlainObject, serializeSorted, strictUtf8 } from "../snapshot/json.js";
import {
  type ChunkListBody,
  type ChunkListLeafRef,
  type ChunkListRef,
  type ChunkRef,
  chunkEntries,
  decodeChunk,
  decodeChunkList,
  encodeChunkList,
  inlineEntries,
  inlineMaxBytes,
  type Manifest,
  type Overlay,
} from "../snapshot/manifest.js";
import { compareCodePoints } from "../snapshot/revision.js";
import { FORMAT_VERSION, MAX_SNAPSHOT_BYTES, type Snapshot } from "../snapshot/types.js";
import { validateDecodedSnapshot } from "../snapshot/validate.js";
import { type StackLayout, sha256Hex } from "./layout.js";

/** Chunks written (and chunk-list leaves fetched) at once. */
const CHUNK_CONCURRENCY = 8;
/**
 * Chunks fetched at once by a read of whole chunk lists. Reads are small and idempotent: more in
 * flight hides a remote store's latency, and keeps a local one's I/O threads busy while JavaScript
 * decodes what has arrived.
 */
const READ_CONCURRENCY = 16;
/**
 * Encoded chunk refs per leaf of a two-level chunk list (about 25 refs). Small leaves keep a
 * checkpoint's rewrite small; the root holds one ref per leaf (about 1/20 of a one-level list).
 */
export const LIST_LEAF_BYTES = 4 * 1024;

/**
 * Encoded chunk refs up to which a chunk list stays one object: half a chunk, as a state stays
 * inline in its manifest below half a chunk (`inlineMaxBytes`), and never less than a leaf. At
 * the default 32 KiB chunks that is about 80 refs, states of up to a few MB. A checkpoint of such
 * a state writes one list object, not a leaf and a root: on a file store a second object costs a
 * file fsync, on S3 a request, which outweighs rewriting a few KiB more of refs.
 */
export function listOneLevelMaxBytes(chunkTargetBytes: number): number {
  return Math.max(LIST_LEAF_BYTES, inlineMaxBytes(chunkTargetBytes));
}

/** A chunk list resolved: every chunk ref in order, and the leaves they came from (none for one level). */
interface ResolvedList {
  chunks: ChunkRef[];
  leaves: ChunkListLeafRef[];
}

/** A chunk list this store resolved or wrote, by its id and plaintext digest. */
type KnownList = { id: string; sha256: string } & ResolvedList;
/** Bound of the cache of chunks' entries decoded for re-chunking, in characters of their texts. */
const DECODED_CHUNK_TEXT = 4 * 1024 * 1024;
/** Default bound of the decoded-chunk cache, in plaintext bytes. */
export const DEFAULT_CHUNK_CACHE_BYTES = 64 * 1024 * 1024;
/** Attempts at a fresh random chunk id (a collision of 128 random bits is not expected, ever). */
const ID_ATTEMPTS = 3;

/** A chunk of the new revision: one of the parent's, kept by reference, or new entries to write. */
export type ChunkPart = { keep: ChunkRef } | { entries: EncodedEntry[] };

const utf8 = new TextEncoder();

function utf8Text(bytes: Uint8Array, what: () => string): string {
  const text = strictUtf8(bytes);
  if (text === undefined) throw new StateKeeperError("E_CORRUPT", `${what()} is not valid UTF-8`);
  return text;
}

export interface ChunkStoreOptions {
  /** Target encoded bytes per chunk (tests make it small to get many chunks). */
  targetBytes: number;
  cacheBytes?: number;
}

export class ChunkStore {
  readonly #store: ObjectStore;
  readonly #layout: StackLayout;
  readonly #encrypter: () => Encrypter;
  readonly targetBytes: number;
  /**
   * Verified plaintext of immutable chunks, by id (an id never names other content). Kept as bytes,
   * not text: a byte array's contents live outside V8's heap, so tens of MiB of cached chunks are
   * not copied by every young-generation collection while a large read allocates its entries.
   */
  readonly #cache: LruCache<string, { sha256: string; plaintext: Uint8Array }>;
  /**
   * The entries of chunks re-chunking decoded or this store wrote, by id: a process committing
   * under a held lock consults the same few chunks at every commit (does an upsert add an entry,
   * what does a checkpoint re-plan) and would otherwise parse them again each time. Bounded by the
   * length of their texts; a full read (`assemble`) does not fill it.
   */
  readonly #decoded = new LruCache<string, { sha256: string; entries: readonly EncodedEntry[] }>(
    DECODED_CHUNK_TEXT,
    (v) => v.entries.reduce((n, e) => n + e.text.length, 0),
  );

  constructor(
    store: ObjectStore,
    layout: StackLayout,
    encrypter: () => Encrypter,
    options: ChunkStoreOptions,
  ) {
    this.#store = store;
    this.#layout = layout;
    this.#encrypter = encrypter;
    this.targetBytes = options.targetBytes;
    this.#cache = new LruCache(
      options.cacheBytes ?? DEFAULT_CHUNK_CACHE_BYTES,
      (v) => v.plaintext.byteLength,
    );
  }

  /**
   * The plaintext of a chunk (or chunk list) `rev` needs: from the cache, or fetched, opened and
   * checked against `ref`.
   */
  async text(ref: { id: string; sha256: string }, rev: string, what = "chunk"): Promise<string> {
    const describe = () => `${what} ${ref.id} of revision ${rev}`;
    const hit = this.#cache.get(ref.id);
    if (hit !== undefined && hit.sha256 === ref.sha256) return utf8Text(hit.plaintext, describe);
    const details = { rev, chunk: ref.id };
    const got = await this.#store.get(this.#layout.chunk(ref.id));
    if (got === undefined)
      throw new StateKeeperError("E_CORRUPT", `revision ${rev} needs ${what} ${ref.id}, which is missing`, {
        details,
      });
    let plaintext: Uint8Array;
    try {
      plaintext = await this.#encrypter().open(got.body, this.#layout.chunkLocation(ref.id));
    } catch (e) {
      if (errorKind(e) !== "integrity" || !(e instanceof StateKeeperError)) throw e;
      throw new StateKeeperError(e.code, `${what} ${ref.id} of revision ${rev}: ${e.message}`, {
        cause: e,
        details: { ...e.details, ...details },
      });
    }
    const actual = sha256Hex(plaintext);
    if (actual !== ref.sha256)
      throw new StateKeeperError(
        "E_CORRUPT",
        `${what} ${ref.id} of revision ${rev} does not match the digest in its manifest (expected sha256 ${ref.sha256}, found ${actual})`,
        { details: { ...details, expected: ref.sha256, actual } },
      );
    const text = utf8Text(plaintext, describe);
    this.#cache.set(ref.id, { sha256: ref.sha256, plaintext });
    return text;
  }

  /**
   * Whether the chunks hold `address`, when this process can tell without any I/O (the chunk that
   * would hold it is cached), else undefined.
   */
  holdsCached(chunks: readonly ChunkRef[], address: string, rev: string): boolean | undefined {
    if (chunks.length === 0) return false;
    const ref = chunks[chunkIndexOf(chunks, address)] as ChunkRef;
    const decoded = this.#decoded.get(ref.id);
    if (decoded !== undefined && decoded.sha256 === ref.sha256)
      return decoded.entries.some((e) => e.address === address);
    const hit = this.#cache.get(ref.id);
    if (hit === undefined || hit.sha256 !== ref.sha256) return undefined;
    const text = utf8Text(hit.plaintext, () => `chunk ${ref.id} of revision ${rev}`);
    const entries = chunkEntries(text, ref, rev);
    this.#decoded.set(ref.id, { sha256: ref.sha256, entries });
    return entries.some((e) => e.address === address);
  }

  /**
   * The ref in `chunks` of a chunk holding exactly `group` (the same entries, in order, with the
   * same text), when this process holds that chunk decoded; else undefined. Compares text instead
   * of hashing it, so a full commit of a state whose chunks this process wrote or read digests only
   * the chunks that changed: equal text is equal plaintext, hence the digest the ref records.
   */
  cachedChunkOf(chunks: readonly ChunkRef[], group: readonly EncodedEntry[]): ChunkRef | undefined {
    const first = group[0];
    if (first === undefined || chunks.length === 0) return undefined;
    const ref = chunks[chunkIndexOf(chunks, first.address)] as ChunkRef;
    if (ref.first !== first.address || ref.entries !== group.length) return undefined;
    const decoded = this.#decoded.get(ref.id);
    if (decoded === undefined || decoded.sha256 !== ref.sha256 || decoded.entries.length !== group.length)
      return undefined;
    for (let i = 0; i < group.length; i++) {
      const mine = decoded.entries[i] as EncodedEntry;
      const theirs = group[i] as EncodedEntry;
      if (mine.address !== theirs.address || mine.text !== theirs.text) return undefined;
    }
    return ref;
  }

  /**
   * How many entries the state of `m` holds: from its chunk refs' counts and its overlay; reads
   * the chunk list and the chunks holding the overlay's upserted addresses (an upsert either
   * replaces an entry there or adds one), no other chunk.
   */
  async entryCount(m: Manifest, rev: string): Promise<number> {
    if (m.entries !== undefined) return m.entries.length;
    const chunks = (await this.chunkRefs(m, rev)) ?? [];
    let n = 0;
    for (const c of chunks) n += c.entries;
    if (m.overlay === undefined) return n;
    n -= m.overlay.remove.length;
    for (const e of m.overlay.upsert)
      if (!(await chunkHolds(chunks, e.address, (ref) => this.encodedEntries(ref, rev)))) n++;
    return n;
  }

  /** The encoded entries of a chunk, for re-chunking. */
  async encodedEntries(ref: ChunkRef, rev: string): Promise<readonly EncodedEntry[]> {
    const decoded = this.#decoded.get(ref.id);
    if (decoded !== undefined && decoded.sha256 === ref.sha256) return decoded.entries;
    const entries = chunkEntries(await this.text(ref, rev), ref, rev);
    this.#decoded.set(ref.id, { sha256: ref.sha256, entries });
    return entries;
  }

  /**
   * The chunk refs of a chunked manifest (inline, or its chunk list fetched and checked: a root's
   * leaves in parallel), or undefined for inline entries. The last list resolved or written is
   * remembered: a committing process parses its list once per checkpoint, not once per commit.
   */
  async chunkRefs(m: Manifest, rev: string): Promise<ChunkRef[] | undefined> {
    return (await this.#resolve(m, rev))?.chunks;
  }

  /** Every object under `chunks/` a manifest needs: its chunk list (root and leaves) and its chunks. */
  async referenced(m: Manifest, rev: string): Promise<string[]> {
    const resolved = await this.#resolve(m, rev);
    if (resolved === undefined) return [];
    const ids = resolved.chunks.map((c) => c.id);
    if (m.chunkList !== undefined) ids.push(m.chunkList.id, ...resolved.leaves.map((l) => l.id));
    return ids;
  }

  async #resolve(m: Manifest, rev: string): Promise<ResolvedList | undefined> {
    if (m.chunks !== undefined) return { chunks: m.chunks, leaves: [] };
    const ref = m.chunkList;
    if (ref === undefined) return undefined;
    const known = this.#knownList(ref.id);
    if (known !== undefined && known.sha256 === ref.sha256) return known;
    const body = decodeChunkList(await this.text(ref, rev, "chunk list"), ref, rev);
    let resolved: ResolvedList;
    if ("chunks" in body) resolved = { chunks: body.chunks, leaves: [] };
    else {
      const leaves = body.lists;
      const parts = await mapBounded(leaves, CHUNK_CONCURRENCY, async (leaf) => {
        const leafBody = decodeChunkList(await this.text(leaf, rev, "chunk list"), leaf, rev);
        if (!("chunks" in leafBody) || leafBody.chunks[0]?.first !== leaf.first)
          throw new StateKeeperError(
            "E_CORRUPT",
            `chunk list ${leaf.id} of revision ${rev} is not the leaf its root names`,
            { details: { rev, chunk: leaf.id } },
          );
        return leafBody.chunks;
      });
      resolved = { chunks: parts.flat(), leaves };
    }
    this.#remember({ id: ref.id, sha256: ref.sha256, ...resolved });
    return resolved;
  }

  /**
   * The last two lists resolved or written: a commit's parent list, and the one a checkpoint
   * folding behind the commits (see `Backend`) writes meanwhile, which the next commits adopt.
   */
  #lists: KnownList[] = [];

  #knownList(id: string): KnownList | undefined {
    return this.#lists.find((l) => l.id === id);
  }

  #remember(list: KnownList): void {
    this.#lists = [list, ...this.#lists.filter((l) => l.id !== list.id)].slice(0, 2);
  }

  /**
   * The snapshot a manifest describes: chunks fetched in parallel (bounded), each checked against
   * its reference, the overlay applied; then the whole validated as a snapshot, in address order.
   */
  async assemble(m: Manifest, rev: string): Promise<Snapshot> {
    let entries: unknown[];
    const chunks = await this.chunkRefs(m, rev);
    if (chunks === undefined) entries = inlineEntries(m);
    else {
      const overlayBytes = (m.overlay?.upsert ?? []).reduce((n, e) => n + e.text.length, 0);
      const total = chunks.reduce((n, c) => n + c.size, 0) + overlayBytes;
      if (total > MAX_SNAPSHOT_BYTES)
        throw new StateKeeperError(
          "E_TOO_LARGE",
          `revision ${rev} holds ${total} bytes of entries, over the ${MAX_SNAPSHOT_BYTES}-byte limit`,
          { details: { rev, size: total, maxBytes: MAX_SNAPSHOT_BYTES } },
        );
      entries = await this.#entriesOf(m, rev, chunks);
    }
    const snapshot = snapshotRecord(m, entries);
    validateDecodedSnapshot(snapshot);
    // Writers rely on the order (they find an address's chunk by bisection): a manifest whose
    // entries are out of order is not one statekeeper wrote.
    for (let i = 1; i < snapshot.entries.length; i++) {
      const before = (snapshot.entries[i - 1] as { address: string }).address;
      const address = (snapshot.entries[i] as { address: string }).address;
      if (compareCodePoints(before, address) >= 0)
        throw new StateKeeperError(
          "E_CORRUPT",
          `revision ${rev} holds its entries out of address order (at ${JSON.stringify(truncateForMessage(address))})`,
          { details: { rev } },
        );
    }
    return snapshot;
  }

  /** The entries of `chunks` (fetched in parallel, bounded, each checked), with `m`'s overlay applied. */
  async #entriesOf(m: Manifest, rev: string, chunks: readonly ChunkRef[]): Promise<unknown[]> {
    // Each chunk is decoded as it arrives, so its text is garbage at once rather than every text
    // of the state being held until the last chunk is read.
    const parts = await mapBounded(chunks, READ_CONCURRENCY, async (ref) =>
      decodeChunk(await this.text(ref, rev), ref, rev),
    );
    const entries: unknown[] = [];
    for (const part of parts) for (const e of part) entries.push(e);
    return m.overlay === undefined ? entries : applyOverlay(entries, m.overlay, rev);
  }

  /**
   * The differences between two chunked manifests, reading only what can differ: the chunks one
   * list has and the other lacks, and the shared chunks their overlays touch. A chunk both lists
   * hold (same digest) holds the same entries in both, so every entry of a shared, untouched chunk
   * is unchanged. The parts read are validated as snapshots are.
   */
  async diff(
    a: Manifest,
    revA: string,
    b: Manifest,
    revB: string,
    options: DiffOptions,
  ): Promise<SnapshotDiff & { unchanged: number }> {
    const [ca, cb] = await Promise.all([this.chunkRefs(a, revA), this.chunkRefs(b, revB)]);
    const listA = ca ?? [];
    const listB = cb ?? [];
    const inA = new Set(listA.map((c) => c.sha256));
    const inB = new Set(listB.map((c) => c.sha256));
    // Shared chunks an overlay address falls in are read on both sides.
    const touched = new Set<string>();
    for (const m of [a, b])
      for (const address of [
        ...(m.overlay?.upsert ?? []).map((e) => e.address),
        ...(m.overlay?.remove ?? []),
      ])
        for (const list of [listA, listB]) {
          const ref = list[chunkIndexOf(list, address)];
          if (ref !== undefined && inA.has(ref.sha256) && inB.has(ref.sha256)) touched.add(ref.sha256);
        }
    const side = async (m: Manifest, rev: string, list: ChunkRef[], other: Set<string>) => {
      const read = list.filter((c) => !other.has(c.sha256) || touched.has(c.sha256));
      const part = snapshotRecord(m, await this.#entriesOf(m, rev, read));
      validateDecodedSnapshot(part);
      return part;
    };
    const [before, after] = await Promise.all([side(a, revA, listA, inB), side(b, revB, listB, inA)]);
    const d = diffSnapshots(before, after, options);
    const untouched = listB
      .filter((c) => inA.has(c.sha256) && !touched.has(c.sha256))
      .reduce((n, c) => n + c.entries, 0);
    return { ...d, unchanged: untouched + after.entries.length - d.added.length - d.changed.length };
  }

  /**
   * Writes the new parts (in parallel, bounded) and returns the chunk list. A part whose plaintext
   * digest `reuse` knows (the parent manifest's chunks) is not written again.
   */
  async write(
    parts: readonly ChunkPart[],
    reuse: ReadonlyMap<string, ChunkRef>,
    concurrency = CHUNK_CONCURRENCY,
  ): Promise<ChunkRef[]> {
    return mapBounded(parts, concurrency, (part) =>
      "keep" in part ? Promise.resolve(part.keep) : this.#writeChunk(part.entries, reuse),
    );
  }

  /** Writes one chunk of `entries` (unless `reuse` knows its digest) and returns its ref. */
  writeOne(entries: EncodedEntry[], reuse: ReadonlyMap<string, ChunkRef> = new Map()): Promise<ChunkRef> {
    return this.#writeChunk(entries, reuse);
  }

  async #writeChunk(entries: EncodedEntry[], reuse: ReadonlyMap<string, ChunkRef>): Promise<ChunkRef> {
    const text = chunkText(entries);
    const { id, sha256, size } = await this.#writeObject(text, (sha) => reuse.get(sha)?.id, "deferred");
    this.#decoded.set(id, { sha256, entries: [...entries] });
    return {
      id,
      sha256,
      entries: entries.length,
      first: (entries[0] as EncodedEntry).address,
      size,
    };
  }

  /**
   * Writes a chunk list and returns its reference. A list of more than `listOneLevelMaxBytes` of
   * refs is two levels: leaves of about `LIST_LEAF_BYTES` cut at content-defined boundaries, then a
   * root over them, so a checkpoint that changed a few chunks writes a few leaves and the root.
   * Leaves (and a root) the parent's list `reuse` already holds are not written again.
   */
  async writeList(chunks: readonly ChunkRef[], reuse: ChunkListRef | undefined): Promise<ChunkListRef> {
    const parent = reuse === undefined ? undefined : this.#knownList(reuse.id);
    const known = new Map<string, string>();
    if (reuse !== undefined) known.set(reuse.sha256, reuse.id);
    for (const l of parent?.leaves ?? []) known.set(l.sha256, l.id);
    const encoded = chunks.map((c) => ({ address: c.first, text: serializeSorted(c, 0) }));
    const bytes = encoded.reduce((n, e) => n + e.text.length + 1, 0);
    let body: ChunkListBody;
    let leaves: ChunkListLeafRef[] = [];
    if (bytes <= listOneLevelMaxBytes(this.targetBytes)) body = { chunks: [...chunks] };
    else {
      let at = 0;
      const groups = planChunks(encoded, { targetBytes: LIST_LEAF_BYTES, maxBytes: 4 * LIST_LEAF_BYTES }).map(
        (g) => {
          const slice = chunks.slice(at, at + g.length);
          at += g.length;
          return slice;
        },
      );
      leaves = await mapBounded(groups, CHUNK_CONCURRENCY, async (group) => {
        const written = await this.#writeObject(
          encodeChunkList({ chunks: group }),
          (sha) => known.get(sha),
          "deferred",
        );
        return { ...written, chunks: group.length, first: (group[0] as ChunkRef).first };
      });
      body = { lists: leaves };
    }
    const { id, sha256, size } = await this.#writeObject(encodeChunkList(body), (sha) => known.get(sha));
    this.#remember({ id, sha256, chunks: [...chunks], leaves });
    return { id, sha256, size, chunks: chunks.length };
  }

  /**
   * Creates an object under `chunks/` holding `text`, sealed, unless `known` names one with the same
   * plaintext digest; returns its id, digest and plaintext size.
   *
   * Chunks and list leaves are `"deferred"` writes: only the list's root names them for a manifest,
   * and it is always written after them, into the same folder, as a plain write whose folder fsync
   * makes them durable too. So a checkpoint costs one folder fsync, not one per object, and no
   * manifest can survive a power failure that its chunks did not. (A root found already written
   * was written plainly after its own chunks and leaves existed.)
   */
  async #writeObject(
    text: string,
    known: (sha256: string) => string | undefined,
    durability?: "deferred",
  ): Promise<{ id: string; sha256: string; size: number }> {
    const plaintext = utf8.encode(text);
    const sha256 = sha256Hex(plaintext);
    const size = plaintext.byteLength;
    const reused = known(sha256);
    if (reused !== undefined) return { id: reused, sha256, size };
    const encrypter = this.#encrypter();
    // Under the noop encrypter the content address is the plaintext digest, which the bucket shows
    // anyway. Under a real key a digest (even a keyed one, shared by every stack on that key) would
    // tell a reader of the bucket which stacks hold equal chunks: ids are random, and the digest
    // lives only inside the sealed manifest.
    const contentAddressed = encrypter.keyId === NOOP_KEY_ID;
    for (let attempt = 0; attempt < ID_ATTEMPTS; attempt++) {
      const id = contentAddressed ? sha256 : randomBytes(16).toString("hex");
      const sealed = await encrypter.seal(plaintext, this.#layout.chunkLocation(id));
      let created = true;
      try {
        await this.#store.put(this.#layout.chunk(id), sealed, {
          ifNoneMatch: "*",
          ...(durability === undefined ? {} : { durability }),
        });
      } catch (e) {
        if (!isStoreError(e, "PRECONDITION_FAILED")) throw e;
        created = false;
      }
      // An existing content-addressed chunk holds this very plaintext (a reader checks its digest).
      if (created || contentAddressed) {
        this.#cache.set(id, { sha256, plaintext });
        return { id, sha256, size };
      }
    }
    throw new StateKeeperError(
      "E_CONTENDED",
      `could not allocate a fresh chunk id after ${ID_ATTEMPTS} attempts`,
    );
  }
}

/** The parent's chunks by plaintext digest: what a commit need not write again. */
export function chunksByDigest(chunks: readonly ChunkRef[] | undefined): Map<string, ChunkRef> {
  return new Map((chunks ?? []).map((c) => [c.sha256, c]));
}

/**
 * The UTF-8 bytes an encoded entry takes in a chunk (its text and a separator). Totals checked
 * against the size limit count bytes, never string length: a state of two-byte characters must
 * not pass as half its size.
 */
export function entryBytes(e: EncodedEntry): number {
  return Buffer.byteLength(e.text, "utf8") + 1;
}

/** `total` bytes of entries, refused (`E_TOO_LARGE`) over the limit every reader enforces. */
export function checkTotal(total: number): number {
  if (total > MAX_SNAPSHOT_BYTES)
    throw new StateKeeperError(
      "E_TOO_LARGE",
      `snapshot entries encode to ${total} bytes, over the ${MAX_SNAPSHOT_BYTES}-byte limit that every reader enforces`,
      { details: { maxBytes: MAX_SNAPSHOT_BYTES, size: total } },
    );
  return total;
}

/** Every entry cut into chunks from scratch. */
export function planAll(entries: readonly EncodedEntry[], targetBytes: number): ChunkPart[] {
  return planChunks(entries, { targetBytes, maxBytes: 4 * targetBytes }).map((es) => ({ entries: es }));
}

/** Sum of the plaintext bytes the parts will hold. */
export function partsBytes(parts: readonly ChunkPart[]): number {
  let n = 0;
  for (const p of parts) n += "keep" in p ? p.keep.size : p.entries.reduce((s, e) => s + entryBytes(e), 1);
  return n;
}

/** How many entries the parts will hold. */
export function partsEntries(parts: readonly ChunkPart[]): number {
  let n = 0;
  for (const p of parts) n += "keep" in p ? p.keep.entries : p.entries.length;
  return n;
}

/**
 * The entry count after `upsert` and `remove` (already checked to name entries that exist) are
 * applied to a parent of `parentEntries` entries whose overlay is `parentOverlay` over chunks that
 * `inChunks` searches; undefined when the parent's count, or whether an upserted address was
 * there, is not known without I/O.
 */
export function countAfter(
  parentEntries: number | undefined,
  parentOverlay: Overlay | undefined,
  upsert: ReadonlyMap<string, EncodedEntry>,
  remove: ReadonlySet<string>,
  inChunks: (address: string) => boolean | undefined,
): number | undefined {
  if (parentEntries === undefined) return undefined;
  const upserted = new Set((parentOverlay?.upsert ?? []).map((e) => e.address));
  const removed = new Set(parentOverlay?.remove ?? []);
  let n = parentEntries - remove.size;
  for (const a of upsert.keys()) {
    // Removed by this same change, or absent from the parent: the upsert adds an entry.
    if (remove.has(a)) n++;
    else if (upserted.has(a)) continue;
    else if (removed.has(a)) n++;
    else {
      const there = inChunks(a);
      if (there === undefined) return undefined;
      if (!there) n++;
    }
  }
  return n;
}

/** An entry removal that names no entry: refused before anything is written. */
export function noSuchEntry(address: string): StateKeeperError {
  return new StateKeeperError(
    "E_INVALID_ARGUMENT",
    `cannot remove ${JSON.stringify(truncateForMessage(address))}: the current state has no entry with that address`,
    { details: { address: truncateForMessage(address) } },
  );
}

/**
 * The chunks of the parent with `remove` then `upsert` applied, re-chunking only the chunks the
 * changes fall in. An affected chunk is re-planned from its start; planning continues into the
 * next old chunk only while the last planned chunk does not end at a natural boundary (an entry
 * that ends a chunk wherever it sits, see `endsChunk`). Past such a boundary the old chunks are
 * what a full plan would give, so they are kept by reference. CPU and I/O: the affected chunks.
 */
export async function planChanges(
  chunks: readonly ChunkRef[],
  upsert: ReadonlyMap<string, EncodedEntry>,
  remove: ReadonlySet<string>,
  load: (ref: ChunkRef) => Promise<readonly EncodedEntry[]>,
  targetBytes: number,
): Promise<ChunkPart[]> {
  const byChunk = new Map<number, string[]>();
  for (const address of new Set([...remove, ...upsert.keys()])) {
    const i = chunkIndexOf(chunks, address);
    const list = byChunk.get(i);
    if (list === undefined) byChunk.set(i, [address]);
    else list.push(address);
  }
  const apply = (entries: readonly EncodedEntry[], addresses: readonly string[]): readonly EncodedEntry[] => {
    if (addresses.length === 0) return entries;
    const byAddress = new Map(entries.map((e) => [e.address, e]));
    for (const a of addresses) if (remove.has(a) && !byAddress.delete(a)) throw noSuchEntry(a);
    for (const a of addresses) {
      const u = upsert.get(a);
      if (u !== undefined) byAddress.set(a, u);
    }
    return sortEntries([...byAddress.values()]);
  };
  const parts: ChunkPart[] = [];
  let i = 0;
  while (i < chunks.length) {
    if (!byChunk.has(i)) {
      parts.push({ keep: chunks[i] as ChunkRef });
      i++;
      continue;
    }
    const pending: EncodedEntry[] = [];
    for (;;) {
      const ref = chunks[i] as ChunkRef;
      pending.push(...apply(await load(ref), byChunk.get(i) ?? []));
      i++;
      const last = pending.at(-1);
      if (i >= chunks.length || last === undefined || endsChunk(last, targetBytes)) break;
    }
    parts.push(...planAll(pending, targetBytes));
  }
  return parts;
}

/** The new parts of a checkpoint: `overlay` folded into the chunks it touches (`planChanges`). */
export function planOverlay(
  chunks: readonly ChunkRef[],
  overlay: Overlay,
  load: (ref: ChunkRef) => Promise<readonly EncodedEntry[]>,
  targetBytes: number,
): Promise<ChunkPart[]> {
  return planChanges(
    chunks,
    new Map(overlay.upsert.map((e) => [e.address, e])),
    new Set(overlay.remove),
    load,
    targetBytes,
  );
}

/** Which chunk an address belongs in: the last one whose first address is not after it (0 if none). */
export function chunkIndexOf(chunks: readonly ChunkRef[], address: string): number {
  let lo = 0;
  let hi = chunks.length - 1;
  let found = 0;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (compareCodePoints((chunks[mid] as ChunkRef).first, address) <= 0) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/**
 * Decoded entries of a chunk list (in address order) with an overlay applied: removed addresses
 * dropped, upserted entries replacing or joining them, the result in address order. An overlay
 * that removes an address the chunks lack, or both upserts and removes one, is not one
 * statekeeper wrote: `E_CORRUPT`.
 */
function applyOverlay(base: readonly unknown[], overlay: Overlay, rev: string): unknown[] {
  const address = (e: unknown): string =>
    isPlainObject(e) && typeof e.address === "string" ? e.address : "";
  const remove = new Set(overlay.remove);
  const upsert = overlay.upsert.map((e) => fromStoredEntry(JSON.parse(e.text)) as unknown);
  const upserted = new Set(overlay.upsert.map((e) => e.address));
  let removed = 0;
  const kept: unknown[] = [];
  for (const e of base) {
    const a = address(e);
    if (remove.has(a)) removed++;
    else if (!upserted.has(a)) kept.push(e);
  }
  if (removed !== remove.size || [...upserted].some((a) => remove.has(a)))
    throw new StateKeeperError(
      "E_CORRUPT",
      `revision ${rev} removes entries its chunks do not hold, or both removes and upserts one`,
      { details: { rev } },
    );
  // Both lists are in address order: merge them.
  const out: unknown[] = [];
  let i = 0;
  let j = 0;
  while (i < kept.length || j < upsert.length) {
    if (
      j >= upsert.length ||
      (i < kept.length && compareCodePoints(address(kept[i]), address(upsert[j])) < 0)
    )
      out.push(kept[i++]);
    else out.push(upsert[j++]);
  }
  return out;
}

/** The bytes an overlay adds to a manifest (about: its entries' texts and removed addresses). */
export function overlayBytes(o: Overlay): number {
  let n = 0;
  for (const e of o.upsert) n += entryBytes(e);
  for (const a of o.remove) n += Buffer.byteLength(a, "utf8") + 3;
  return n;
}

/**
 * Whether an overlay is large enough to fold into new chunks (a checkpoint). Every commit rewrites
 * its manifest, overlay included; a checkpoint writes the changed chunks and a new chunk list of
 * `listBytes`. Spread over the commits between checkpoints, the cost per commit is least when the
 * overlay is folded at about sqrt(2 · listBytes · bytes per change) — the classic batch-size
 * optimum — bounded to [targetBytes, 8 · targetBytes] so reads stay cheap and small lists still fold.
 */
export function needsCheckpoint(o: Overlay, listBytes: number, targetBytes: number): boolean {
  return overlayBytes(o) > checkpointBytes(o, listBytes, targetBytes);
}

/** The overlay size past which `needsCheckpoint` folds `o` (infinite for an empty overlay). */
export function checkpointBytes(o: Overlay, listBytes: number, targetBytes: number): number {
  const changes = o.upsert.length + o.remove.length;
  if (changes === 0) return Number.POSITIVE_INFINITY;
  const optimum = Math.sqrt(2 * listBytes * (overlayBytes(o) / changes));
  return Math.min(8 * targetBytes, Math.max(targetBytes, optimum));
}

/**
 * The overlay on top of `chunks` after `remove` then `upsert` are applied to the state `chunks` +
 * `overlay` hold. A removal of an address that state lacks is refused (`E_INVALID_ARGUMENT`)
 * before anything is written; finding out reads at most the chunk each removed address belongs in.
 */
/** Whether `chunks` (sorted, non-overlapping) hold `address`: one chunk loaded. */
export async function chunkHolds(
  chunks: readonly ChunkRef[],
  address: string,
  load: (ref: ChunkRef) => Promise<readonly EncodedEntry[]>,
): Promise<boolean> {
  if (chunks.length === 0) return false;
  const ref = chunks[chunkIndexOf(chunks, address)] as ChunkRef;
  return (await load(ref)).some((e) => e.address === address);
}

export async function growOverlay(
  chunks: readonly ChunkRef[],
  overlay: Overlay | undefined,
  upsert: ReadonlyMap<string, EncodedEntry>,
  remove: ReadonlySet<string>,
  load: (ref: ChunkRef) => Promise<readonly EncodedEntry[]>,
): Promise<Overlay> {
  const up = new Map((overlay?.upsert ?? []).map((e) => [e.address, e]));
  const rm = new Set(overlay?.remove ?? []);
  const inChunks = (a: string) => chunkHolds(chunks, a, load);
  for (const a of remove) {
    if (up.delete(a)) {
      if (await inChunks(a)) rm.add(a);
    } else if (!rm.has(a) && (await inChunks(a))) rm.add(a);
    else throw noSuchEntry(a);
  }
  for (const [a, e] of upsert) {
    rm.delete(a);
    up.set(a, e);
  }
  return { upsert: sortEntries([...up.values()]), remove: [...rm].sort(compareCodePoints) };
}

/**
 * The overlay that turns a checkpoint of the state `chunks` + `folded` into the state `chunks` +
 * `now`: the addresses either overlay touches, compared between the two states (an entry whose
 * text is unchanged is left out). A checkpoint written behind the commits folds the state of
 * one revision; a later revision adopts it with this overlay. I/O: at most the chunks of `chunks`
 * those addresses belong in.
 */
export async function rebaseOverlay(
  chunks: readonly ChunkRef[],
  folded: Overlay,
  now: Overlay,
  load: (ref: ChunkRef) => Promise<readonly EncodedEntry[]>,
): Promise<Overlay> {
  const index = (o: Overlay) => ({ up: new Map(o.upsert.map((e) => [e.address, e])), rm: new Set(o.remove) });
  const before = index(folded);
  const after = index(now);
  const inChunks = async (a: string): Promise<EncodedEntry | undefined> => {
    if (chunks.length === 0) return undefined;
    const ref = chunks[chunkIndexOf(chunks, a)] as ChunkRef;
    return (await load(ref)).find((e) => e.address === a);
  };
  const valueIn = async (o: typeof before, a: string) =>
    o.up.get(a) ?? (o.rm.has(a) ? undefined : await inChunks(a));
  const touched = new Set([...before.up.keys(), ...before.rm, ...after.up.keys(), ...after.rm]);
  const upsert: EncodedEntry[] = [];
  const remove: string[] = [];
  for (const a of [...touched].sort(compareCodePoints)) {
    const was = await valueIn(before, a);
    const is = await valueIn(after, a);
    if (is !== undefined) {
      if (was?.text !== is.text) upsert.push(is);
    } else if (was !== undefined) remove.push(a);
  }
  return { upsert, remove };
}

/**
 * A full state, cut into `parts` against `chunks` (the parent's chunk list: a part whose digest the
 * list holds is kept by reference), as an overlay on top of that list. Boundaries are
 * content-defined, so an entry in an identical chunk is identical: only the entries of the new
 * parts and of the list's chunks no part kept are compared. I/O: those chunks of the list.
 */
export async function overlayFromParts(
  parts: readonly ChunkPart[],
  chunks: readonly ChunkRef[],
  load: (ref: ChunkRef) => Promise<readonly EncodedEntry[]>,
): Promise<Overlay> {
  const kept = new Set<string>();
  for (const p of parts) if ("keep" in p) kept.add(p.keep.sha256);
  const before = new Map<string, string>();
  for (const ref of chunks)
    if (!kept.has(ref.sha256)) for (const e of await load(ref)) before.set(e.address, e.text);
  const upsert: EncodedEntry[] = [];
  const present = new Set<string>();
  for (const p of parts) {
    if ("keep" in p) continue;
    for (const e of p.entries) {
      present.add(e.address);
      if (before.get(e.address) !== e.text) upsert.push(e);
    }
  }
  const remove = [...before.keys()].filter((a) => !present.has(a)).sort(compareCodePoints);
  return { upsert, remove };
}

/** The plaintext digest of a chunk of `entries`, as `#writeChunk` would store it. */
export function chunkDigest(entries: readonly EncodedEntry[]): string {
  return sha256Hex(utf8.encode(chunkText(entries)));
}

/** A manifest's snapshot fields around `entries`, not yet validated. */
function snapshotRecord(m: Manifest, entries: unknown[]): Record<string, unknown> {
  const snapshot: Record<string, unknown> = {
    formatVersion: FORMAT_VERSION,
    factory: m.factory,
    stack: m.stack,
    generatedAt: m.generatedAt,
    entries,
  };
  if (m.outputs !== undefined) snapshot.outputs = m.outputs;
  return snapshot;
}
