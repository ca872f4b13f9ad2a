import { bluelinkKey, bluelinkRecordFormat } from "./bluelink.js";
import { asRecord, encodeSegment, withoutLegacyWriteId } from "./codec.js";
import { type ObjectFormat, readObject, updateObject } from "./compare-and-swap.js";
import type { Change, LayoutContext, RecordLayout, UpdateResult } from "./layout.js";

/**
 * One JSON object per record: `<prefix><kind>/<id>.json`. Under statekeeper's naming the id is
 * encoded into one segment; under Bluelink's it is written raw (`KeyBuilder`, which may nest it
 * in folders) and the record carries Bluelink's Go field names.
 */
export function perEntityLayout<T>(ctx: LayoutContext, kind: string): RecordLayout<T> {
  const folder = `${ctx.prefix}${kind}/`;
  const bluelink = ctx.naming === "bluelink";
  const keyOf = bluelink
    ? (id: string) => bluelinkKey(`${kind} id`, id, ctx.prefix, `${kind}/`)
    : (id: string) => `${folder}${encodeSegment(id)}.json`;
  const recordFormat: ObjectFormat<T> = bluelink
    ? bluelinkRecordFormat<T>(kind)
    : {
        decode: (parsed, key) => withoutLegacyWriteId(asRecord<T>(parsed, key)),
        encode: (record) => record,
      };

  return {
    checkId(id) {
      keyOf(id);
    },

    normalise(record) {
      return recordFormat.decode(JSON.parse(JSON.stringify(recordFormat.encode(record))), "");
    },

    async read(id) {
      return (await readObject(ctx, keyOf(id), recordFormat))?.value;
    },

    async update(id: string, decide: (current: T | undefined) => Change<T>): Promise<UpdateResult<T>> {
      return updateObject(ctx, keyOf(id), recordFormat, (current) =>
        decide(current === undefined ? undefined : structuredClone(current)),
      );
    },

    async all() {
      const records: T[] = [];
      for await (const info of ctx.store.list(folder)) {
        // Bluelink's raw ids may contain `/`: its records can sit in sub-folders.
        if (!info.key.endsWith(".json") || (!bluelink && info.key.slice(folder.length).includes("/")))
          continue;
        // Removed between the listing and the read: not part of the result.
        const stored = await readObject(ctx, info.key, recordFormat);
        if (stored !== undefined) records.push(stored.value);
      }
      return records;
    },
  };
}
