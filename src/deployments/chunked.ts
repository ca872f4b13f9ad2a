import { StateKeeperError } from "../errors.js";
import { backoffDelayMs, CONTENTION_BACKOFF, sleep } from "../internal/backoff.js";
import { contended, DEFAULT_UPDATE_ATTEMPTS } from "../objectstore/transactional.js";
import { jsonSize, ownValue, setOwn, withoutLegacyWriteId } from "./codec.js";
import { type ObjectFormat, objectAt, readObject, updateObject } from "./compare-and-swap.js";
import type { Change, LayoutContext, RecordLayout, UpdateResult } from "./layout.js";

/** Where a record sits: `<kind>_c<chunkNumber>.json`, position `indexInChunk`. */
export interface ChunkLocation {
  chunkNumber: number;
  indexInChunk: number;
}

interface Chunk<T> {
  number: number;
  records: T[];
  /** Absent when the chunk does not exist yet (it is then created create-only). */
  etag: string | undefined;
}

type ChunkIndex = Record<string, ChunkLocation>;

const indexFormat: ObjectFormat<ChunkIndex> = {
  decode(parsed, key) {
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
      throw new StateKeeperError("E_CORRUPT", `chunk index ${key} is not a JSON object`, {
        details: { key },
      });
    return parsed as ChunkIndex;
  },
  encode: (index) => index,
};

/**
 * Records packed into JSON-array chunk files `<prefix><kind>_c<N>.json` plus an index
 * `<prefix><kind>_index.json` mapping id → {chunkNumber, indexInChunk}.
 *
 * A new record goes into the last chunk unless it would push that chunk past `maxChunkBytes`
 * (a record is never split, so a lone record may exceed it). A removal shifts later positions
 * of its chunk. Chunks are written with compare-and-swap; the index is then rebuilt for that
 * chunk from a fresh read of it, also with compare-and-swap, so the last index write always
 * reflects the newest chunk content. A position read through the index is verified by id, so
 * an index left behind by a crashed writer costs a scan of one chunk, never a wrong record.
 */
export function chunkedLayout<T>(
  ctx: LayoutContext,
  kind: string,
  idOf: (record: T) => string,
): RecordLayout<T> {
  const chunkKey = (n: number) => `${ctx.prefix}${kind}_c${n}.json`;
  const indexKey = `${ctx.prefix}${kind}_index.json`;

  const chunkFormat: ObjectFormat<T[]> = {
    decode(parsed, key) {
      if (!Array.isArray(parsed))
        throw new StateKeeperError("E_CORRUPT", `chunk ${key} is not a JSON array`, { details: { key } });
      return parsed as T[];
    },
    encode: (records) => records,
  };

  const readChunk = async (n: number): Promise<Chunk<T> | undefined> => {
    const got = await readObject(ctx, chunkKey(n), chunkFormat);
    return got === undefined ? undefined : { number: n, records: got.value, etag: got.etag };
  };

  const readIndex = async (): Promise<ChunkIndex> =>
    (await readObject(ctx, indexKey, indexFormat))?.value ?? {};

  const findIn = (records: T[], id: string, hint?: number): number => {
    if (hint !== undefined && hint >= 0 && hint < records.length && idOf(records[hint] as T) === id)
      return hint;
    return records.findIndex((r) => idOf(r) === id);
  };

  /** The last existing chunk (the index may lag behind a writer that crashed before indexing). */
  const lastChunk = async (index: ChunkIndex): Promise<Chunk<T>> => {
    let n = 0;
    for (const loc of Object.values(index)) n = Math.max(n, loc.chunkNumber);
    let chunk = (await readChunk(n)) ?? { number: n, records: [], etag: undefined };
    for (;;) {
      const next = await readChunk(chunk.number + 1);
      if (next === undefined) return chunk;
      chunk = next;
    }
  };

  const locate = async (
    id: string,
    index: ChunkIndex,
  ): Promise<{ chunk: Chunk<T>; position: number } | undefined> => {
    const loc = ownValue(index, id);
    if (loc === undefined) return undefined;
    const chunk = await readChunk(loc.chunkNumber);
    if (chunk === undefined) return undefined;
    const position = findIn(chunk.records, id, loc.indexInChunk);
    return position < 0 ? undefined : { chunk, position };
  };

  /** Rewrites the index entries of chunk `n` from a read of the chunk made after the index read. */
  const reindex = async (n: number): Promise<void> => {
    await updateObject(ctx, indexKey, indexFormat, async (index) => {
      const chunk = await readChunk(n);
      const next: ChunkIndex = {};
      for (const [id, loc] of Object.entries(index ?? {})) if (loc.chunkNumber !== n) setOwn(next, id, loc);
      chunk?.records.forEach((record, i) => {
        setOwn(next, idOf(record), { chunkNumber: n, indexInChunk: i });
      });
      if (index !== undefined && JSON.stringify(next) === JSON.stringify(index)) return { keep: true };
      return { put: next };
    });
  };

  return {
    // Ids are JSON values inside chunks and the index, never part of a key.
    checkId() {},

    normalise: (record) => JSON.parse(JSON.stringify(record)),

    async read(id) {
      const found = await locate(id, await readIndex());
      const stored = found === undefined ? undefined : found.chunk.records[found.position];
      return stored === undefined ? undefined : withoutLegacyWriteId(stored);
    },

    async update(id: string, decide: (current: T | undefined) => Change<T>): Promise<UpdateResult<T>> {
      // Its own loop, not `updateObject`: the object written (a new chunk when the last is full)
      // may not be the one read, and the index must be rebuilt after every write that lands.
      for (let attempt = 1; attempt <= DEFAULT_UPDATE_ATTEMPTS; attempt++) {
        const index = await readIndex();
        let target = await locate(id, index);
        if (target === undefined) {
          // Not indexed: it may still sit in the last chunk if its writer died before indexing.
          const chunk = await lastChunk(index);
          target = { chunk, position: findIn(chunk.records, id) };
        }
        const { chunk, position } = target;
        const stored = position < 0 ? undefined : chunk.records[position];
        const before = stored === undefined ? undefined : withoutLegacyWriteId(stored);
        const change = decide(before === undefined ? undefined : structuredClone(before));
        if ("keep" in change) return { before, after: before };
        if ("remove" in change && position < 0) return { before, after: undefined };

        let written = chunk;
        if ("remove" in change) written = { ...chunk, records: chunk.records.toSpliced(position, 1) };
        else {
          const put = change.put;
          if (position >= 0) written = { ...chunk, records: chunk.records.with(position, put) };
          else if (chunk.records.length > 0 && jsonSize([...chunk.records, put]) > ctx.maxChunkBytes)
            written = { number: chunk.number + 1, records: [put], etag: undefined };
          else written = { ...chunk, records: [...chunk.records, put] };
        }

        const chunkObject = objectAt(ctx, chunkKey(written.number), chunkFormat);
        if ((await chunkObject.swap(written.records, written.etag ?? null)) === undefined) {
          await sleep(backoffDelayMs(CONTENTION_BACKOFF, attempt));
          continue;
        }
        await reindex(written.number);
        return { before, after: "put" in change ? change.put : undefined };
      }
      throw contended(`${ctx.prefix}${kind}_c*.json`, DEFAULT_UPDATE_ATTEMPTS);
    },

    async all() {
      const records: T[] = [];
      for (let n = 0; ; n++) {
        const chunk = await readChunk(n);
        if (chunk === undefined) return records;
        records.push(...chunk.records.map(withoutLegacyWriteId));
      }
    },
  };
}
