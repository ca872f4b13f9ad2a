/**
 * Content-defined chunks of entries (storage format 2): entries sorted by address are cut into
 * chunks of about `TARGET_CHUNK_BYTES` encoded bytes, at boundaries that the entries decide
 * themselves — an entry ends a chunk when a hash of its address falls below a threshold
 * proportional to its encoded size (the idea of Dolt's prolly trees and of restic's and borg's
 * chunkers, applied per entry). A boundary therefore does not depend on what precedes it, so
 * inserting, changing or removing one entry changes the chunk that holds it (and, when that
 * entry was a boundary, its successor), never every chunk after it.
 */
import { compareCodePoints } from "./revision.js";

/** The encoded size a chunk aims at. */
export const TARGET_CHUNK_BYTES = 32 * 1024;
/** A run without a natural boundary is cut here (rare: about e^-4 of chunks). */
export const MAX_CHUNK_BYTES = 4 * TARGET_CHUNK_BYTES;

/** One entry in its stored form: its address and its canonical compact JSON. */
export interface EncodedEntry {
  readonly address: string;
  readonly text: string;
}

/** FNV-1a over the UTF-16 code units of `s`, 32 bits: fast, and well spread for this use. */
function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // Final avalanche (murmur3's fmix32), so similar addresses do not give similar hashes.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Whether `entry` ends a chunk: with probability `bytes / target`, decided by its address alone
 * (and its size), so the same entry is a boundary wherever it sits.
 */
export function endsChunk(entry: EncodedEntry, targetBytes = TARGET_CHUNK_BYTES): boolean {
  return hash32(entry.address) < (entry.text.length / targetBytes) * 0x1_0000_0000;
}

/** Sorts entries by address (code points), the order chunks hold them in. */
export function sortEntries<T extends { address: string }>(entries: readonly T[]): T[] {
  return [...entries].sort((a, b) => compareCodePoints(a.address, b.address));
}

/**
 * Cuts `entries` (sorted by address, addresses unique) into chunks at their natural boundaries,
 * and where a chunk would exceed `maxBytes` without one.
 */
export function planChunks(
  entries: readonly EncodedEntry[],
  options: { targetBytes?: number; maxBytes?: number } = {},
): EncodedEntry[][] {
  return [...chunkStream(entries, options)];
}

/** `planChunks`, one chunk at a time as the entries arrive (a writer holds a few chunks, not the state). */
export function* chunkStream(
  entries: Iterable<EncodedEntry>,
  options: { targetBytes?: number; maxBytes?: number } = {},
): Generator<EncodedEntry[]> {
  const target = options.targetBytes ?? TARGET_CHUNK_BYTES;
  const max = options.maxBytes ?? MAX_CHUNK_BYTES;
  let current: EncodedEntry[] = [];
  let bytes = 0;
  for (const e of entries) {
    if (current.length > 0 && bytes + e.text.length > max) {
      yield current;
      current = [];
      bytes = 0;
    }
    current.push(e);
    bytes += e.text.length + 1;
    if (endsChunk(e, target)) {
      yield current;
      current = [];
      bytes = 0;
    }
  }
  if (current.length > 0) yield current;
}

/** A chunk's stored text: a JSON array of its entries' texts, in order. */
export function chunkText(entries: readonly EncodedEntry[]): string {
  return `[${entries.map((e) => e.text).join(",")}]`;
}
