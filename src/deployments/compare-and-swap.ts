import {
  backoff,
  decodeObject,
  encodeObject,
  isWriteRace,
  MAX_WRITE_ATTEMPTS,
  tooManyRaces,
} from "./codec.js";
import type { Change, LayoutContext, UpdateResult } from "./layout.js";

/** How one kind of stored JSON object maps to the value its callers work with. */
export interface ObjectFormat<V> {
  /** The value of a parsed object; a wrong shape is `E_CORRUPT` naming `key`. */
  decode(parsed: unknown, key: string): V;
  /** The JSON-serialisable object stored for `value`. */
  encode(value: V): unknown;
}

/** A stored value with the etag a compare-and-swap of it must match. */
export interface VersionedValue<V> {
  value: V;
  etag: string;
}

/** The object at `key` with its etag, or `undefined` when there is none. */
export async function readObject<V>(
  ctx: LayoutContext,
  key: string,
  format: ObjectFormat<V>,
): Promise<VersionedValue<V> | undefined> {
  const got = await ctx.store.get(key);
  if (got === undefined) return undefined;
  return { value: format.decode(await decodeObject(got.body, key, ctx.encrypter), key), etag: got.etag };
}

/** Writes `value` create-only when `etag` is `undefined`, else only over the version with that etag. */
export async function putConditionally<V>(
  ctx: LayoutContext,
  key: string,
  format: ObjectFormat<V>,
  value: V,
  etag: string | undefined,
): Promise<void> {
  const body = await encodeObject(format.encode(value), key, ctx.encrypter);
  await ctx.store.put(key, body, etag === undefined ? { ifNoneMatch: "*" } : { ifMatch: etag });
}

/** Deletes the version with `etag`; unconditionally where the store ignores a delete's `ifMatch`. */
export async function deleteConditionally(ctx: LayoutContext, key: string, etag: string): Promise<void> {
  await ctx.store.delete(key, ctx.conditionalDelete ? { ifMatch: etag } : {});
}

/**
 * Read-modify-write of one object with compare-and-swap: reads the freshest value, asks `decide`
 * what to do with it, and writes only over exactly that version (create-only when there was
 * none). On a lost race it backs off, re-reads and asks again, so writers in other processes
 * never lose each other's changes. `decide` may throw to abort without writing; `keep`, and
 * removing what is absent, write nothing.
 */
export async function updateObject<V>(
  ctx: LayoutContext,
  key: string,
  format: ObjectFormat<V>,
  decide: (current: V | undefined) => Change<V> | Promise<Change<V>>,
): Promise<UpdateResult<V>> {
  let lastRace: unknown;
  for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
    const stored = await readObject(ctx, key, format);
    const before = stored?.value;
    const change = await decide(before);
    if ("keep" in change) return { before, after: before };
    try {
      if ("put" in change) {
        await putConditionally(ctx, key, format, change.put, stored?.etag);
        return { before, after: change.put };
      }
      if (stored !== undefined) await deleteConditionally(ctx, key, stored.etag);
      return { before, after: undefined };
    } catch (e) {
      if (!isWriteRace(e)) throw e;
      lastRace = e;
      await backoff(attempt);
    }
  }
  throw tooManyRaces(key, lastRace);
}
