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
import {
  type ChunkRef,
  chunkEntries,
  decodeChunk,
  inlineEntries,
  type Manifest,
} from "../snapshot/manifest.js";
import { compareCodePoints } from "../snapshot/revision.js";
import { FORMAT_VERSION, MAX_SNAPSHOT_BYTES, type Snapshot } from "../snapshot/types.js";
import { validateSnapshot } from "../snapshot/validate.js";
import { type StackLayout, sha256Hex } from "./layout.js";

/** Chunks fetched or written at once. */
const CHUNK_CONCURRENCY = 8;
/** Default bound of the decoded-chunk cache, in plaintext bytes. */
export const DEFAULT_CHUNK_CACHE_BYTES = 64 * 1024 * 1024;
/** Attempts at a fresh random chunk id (a collision of 128 random bits is not expected, ever). */
const ID_ATTEMPTS = 3;

/** A chunk of the new revision: one of the parent's, kept by reference, or new entries to write. */
export type ChunkPart = { keep: ChunkRef } | { entries: EncodedEntry[] };

const utf8 = new TextEncoder();

function utf8Text(bytes: Uint8Array, what: () => string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new StateKeeperError("E_CORRUPT", `${what()} is not valid UTF-8`);
  }
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
  /** Verified plaintext of immutable chunks, by id (an id never names other content). */
  readonly #cache: LruCache<string, { sha256: string; text: string }>;

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
    this.#cache = new LruCache(options.cacheBytes ?? DEFAULT_CHUNK_CACHE_BYTES, (v) => v.text.length * 2);
  }

  /** The plaintext of a chunk `rev` needs: from the cache, or fetched, opened and checked against `ref`. */
  async text(ref: ChunkRef, rev: string): Promise<string> {
    const hit = this.#cache.get(ref.id);
    if (hit !== undefined && hit.sha256 === ref.sha256) return hit.text;
    const details = { rev, chunk: ref.id };
    const got = await this.#store.get(this.#layout.chunk(ref.id));
    if (got === undefined)
      throw new StateKeeperError("E_CORRUPT", `revision ${rev} needs chunk ${ref.id}, which is missing`, {
        details,
      });
    let plaintext: Uint8Array;
    try {
      plaintext = await this.#encrypter().open(got.body, this.#layout.chunkLocation(ref.id));
    } catch (e) {
      if (errorKind(e) !== "integrity" || !(e instanceof StateKeeperError)) throw e;
      throw new StateKeeperError(e.code, `chunk ${ref.id} of revision ${rev}: ${e.message}`, {
        cause: e,
        details: { ...e.details, ...details },
      });
    }
    const actual = sha256Hex(plaintext);
    if (actual !== ref.sha256)
      throw new StateKeeperError(
        "E_CORRUPT",
        `chunk ${ref.id} of revision ${rev} does not match the digest in its manifest (expected sha256 ${ref.sha256}, found ${actual})`,
        { details: { ...details, expected: ref.sha256, actual } },
      );
    const text = utf8Text(plaintext, () => `chunk ${ref.id} of revision ${rev}`);
    this.#cache.set(ref.id, { sha256: ref.sha256, text });
    return text;
  }

  /** The encoded entries of a chunk, for re-chunking. */
  async encodedEntries(ref: ChunkRef, rev: string): Promise<EncodedEntry[]> {
    return chunkEntries(await this.text(ref, rev), ref, rev);
  }

  /**
   * The snapshot a manifest describes: chunks fetched in parallel (bounded), each checked against
   * its reference; then the whole validated as a snapshot, in address order.
   */
  async assemble(m: Manifest, rev: string): Promise<Snapshot> {
    let entries: unknown[];
    if (m.chunks === undefined) entries = inlineEntries(m);
    else {
      const chunks = m.chunks;
      const total = chunks.reduce((n, c) => n + c.size, 0);
      if (total > MAX_SNAPSHOT_BYTES)
        throw new StateKeeperError(
          "E_TOO_LARGE",
          `revision ${rev} holds ${total} bytes of entries, over the ${MAX_SNAPSHOT_BYTES}-byte limit`,
          { details: { rev, size: total, maxBytes: MAX_SNAPSHOT_BYTES } },
        );
      const texts = await mapBounded(chunks, CHUNK_CONCURRENCY, (ref) => this.text(ref, rev));
      entries = texts.flatMap((text, i) => decodeChunk(text, chunks[i] as ChunkRef, rev));
    }
    const snapshot: Record<string, unknown> = {
      formatVersion: FORMAT_VERSION,
      factory: m.factory,
      stack: m.stack,
      generatedAt: m.generatedAt,
      entries,
    };
    if (m.outputs !== undefined) snapshot.outputs = m.outputs;
    validateSnapshot(snapshot);
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

  /**
   * Writes the new parts (in parallel, bounded) and returns the chunk list. A part whose plaintext
   * digest `reuse` knows (the parent manifest's chunks) is not written again.
   */
  async write(parts: readonly ChunkPart[], reuse: ReadonlyMap<string, ChunkRef>): Promise<ChunkRef[]> {
    return mapBounded(parts, CHUNK_CONCURRENCY, (part) =>
      "keep" in part ? Promise.resolve(part.keep) : this.#writeChunk(part.entries, reuse),
    );
  }

  async #writeChunk(entries: EncodedEntry[], reuse: ReadonlyMap<string, ChunkRef>): Promise<ChunkRef> {
    const text = chunkText(entries);
    const plaintext = utf8.encode(text);
    const sha256 = sha256Hex(plaintext);
    const ref = (id: string): ChunkRef => ({
      id,
      sha256,
      entries: entries.length,
      first: (entries[0] as EncodedEntry).address,
      last: (entries.at(-1) as EncodedEntry).address,
      size: plaintext.byteLength,
    });
    const known = reuse.get(sha256);
    if (known !== undefined) return ref(known.id);
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
        await this.#store.put(this.#layout.chunk(id), sealed, { ifNoneMatch: "*" });
      } catch (e) {
        if (!isStoreError(e, "PRECONDITION_FAILED")) throw e;
        created = false;
      }
      // An existing content-addressed chunk holds this very plaintext (a reader checks its digest).
      if (created || contentAddressed) {
        this.#cache.set(id, { sha256, text });
        return ref(id);
      }
    }
    throw new StateKeeperError(
      "E_CONTENDED",
      `could not allocate a fresh chunk id after ${ID_ATTEMPTS} attempts`,
    );
  }
}

/** The parent's chunks by plaintext digest: what a commit need not write again. */
export function chunksByDigest(m: Manifest | undefined): Map<string, ChunkRef> {
  return new Map((m?.chunks ?? []).map((c) => [c.sha256, c]));
}

/** Every entry cut into chunks from scratch. */
export function planAll(entries: readonly EncodedEntry[], targetBytes: number): ChunkPart[] {
  return planChunks(entries, { targetBytes, maxBytes: 4 * targetBytes }).map((es) => ({ entries: es }));
}

/** Sum of the plaintext bytes the parts will hold. */
export function partsBytes(parts: readonly ChunkPart[]): number {
  let n = 0;
  for (const p of parts)
    n += "keep" in p ? p.keep.size : p.entries.reduce((s, e) => s + e.text.length + 1, 1);
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
  load: (ref: ChunkRef) => Promise<EncodedEntry[]>,
  targetBytes: number,
): Promise<ChunkPart[]> {
  // Which chunk an address belongs in: the last one whose first address is not after it.
  const locate = (address: string): number => {
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
  };
  const byChunk = new Map<number, string[]>();
  for (const address of new Set([...remove, ...upsert.keys()])) {
    const i = locate(address);
    const list = byChunk.get(i);
    if (list === undefined) byChunk.set(i, [address]);
    else list.push(address);
  }
  const apply = (entries: EncodedEntry[], addresses: readonly string[]): EncodedEntry[] => {
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
