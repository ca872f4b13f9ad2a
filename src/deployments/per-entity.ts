import { asRecord, encodeSegment, withoutLegacyWriteId } from "./codec.js";
import { type ObjectFormat, readObject, updateObject } from "./compare-and-swap.js";
import type { Change, LayoutContext, RecordLayout, UpdateResult } from "./layout.js";

/** One JSON object per record: `<prefix><kind>/<encoded id>.json`. */
export function perEntityLayout<T>(ctx: LayoutContext, kind: string): RecordLayout<T> {
  const folder = `${ctx.prefix}${kind}/`;
  const keyOf = (id: string) => `${folder}${encodeSegment(id)}.json`;
  const recordFormat: ObjectFormat<T> = {
    decode: (parsed, key) => withoutLegacyWriteId(asRecord<T>(parsed, key)),
    encode: (record) => record,
  };

  return {
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
        if (!info.key.endsWith(".json") || info.key.slice(folder.length).includes("/")) continue;
        // Removed between the listing and the read: not part of the result.
        const stored = await readObject(ctx, info.key, recordFormat);
        if (stored !== undefined) records.push(stored.value);
      }
      return records;
    },
  };
}
