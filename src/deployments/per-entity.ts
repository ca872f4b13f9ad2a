import { StateKeeperError } from "../errors.js";
import {
  backoff,
  decodeObject,
  encodeObject,
  encodeSegment,
  isWriteRace,
  MAX_WRITE_ATTEMPTS,
  stampRecord,
  tooManyRaces,
  unstampRecord,
} from "./codec.js";
import type { Change, LayoutContext, RecordLayout, UpdateResult } from "./layout.js";

/** One JSON object per record: `<prefix><kind>/<encoded id>.json`. */
export function perEntityLayout<T>(ctx: LayoutContext, kind: string): RecordLayout<T> {
  const folder = `${ctx.prefix}${kind}/`;
  const keyOf = (id: string) => `${folder}${encodeSegment(id)}.json`;

  const load = async (key: string): Promise<{ record: T; etag: string } | undefined> => {
    const got = await ctx.store.get(key);
    if (got === undefined) return undefined;
    const stored = asRecord<T>(await decodeObject(got.body, key, ctx.encrypter), key);
    return { record: unstampRecord(stored), etag: got.etag };
  };

  return {
    async read(id) {
      return (await load(keyOf(id)))?.record;
    },

    async update(id: string, decide: (current: T | undefined) => Change<T>): Promise<UpdateResult<T>> {
      const key = keyOf(id);
      let lastRace: unknown;
      for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
        const stored = await load(key);
        const before = stored?.record;
        const change = decide(before === undefined ? undefined : structuredClone(before));
        try {
          if ("keep" in change) return { before, after: before };
          if ("remove" in change) {
            if (stored === undefined) return { before, after: undefined };
            await ctx.store.delete(key, ctx.conditionalDelete ? { ifMatch: stored.etag } : {});
            return { before, after: undefined };
          }
          const body = await encodeObject(stampRecord(change.put), key, ctx.encrypter);
          await ctx.store.put(
            key,
            body,
            stored === undefined ? { ifNoneMatch: "*" } : { ifMatch: stored.etag },
          );
          return { before, after: change.put };
        } catch (e) {
          if (!isWriteRace(e)) throw e;
          lastRace = e;
          await backoff(attempt);
        }
      }
      throw tooManyRaces(key, lastRace);
    },

    async all() {
      const records: T[] = [];
      for await (const info of ctx.store.list(folder)) {
        if (!info.key.endsWith(".json") || info.key.slice(folder.length).includes("/")) continue;
        // Removed between the listing and the read: not part of the result.
        const stored = await load(info.key);
        if (stored !== undefined) records.push(stored.record);
      }
      return records;
    },
  };
}

/** A stored record must be a JSON object; anything else is corruption, never data. */
export function asRecord<T>(value: unknown, key: string): T {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new StateKeeperError("E_CORRUPT", `stored object ${key} is not a JSON object`, {
      details: { key },
    });
  return value as T;
}
