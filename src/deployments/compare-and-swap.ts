import { TransactionalObject, type Versioned } from "../objectstore/transactional.js";
import { decodeObject, encodeObject } from "./codec.js";
import type { Change, LayoutContext, UpdateResult } from "./layout.js";

/** How one kind of stored JSON object maps to the value its callers work with. */
export interface ObjectFormat<V> {
  /** The value of a parsed object; a wrong shape is `E_CORRUPT` naming `key`. */
  decode(parsed: unknown, key: string): V;
  /** The JSON-serialisable object stored for `value`. */
  encode(value: V): unknown;
}

/** The JSON object at `key` (sealed with the context's encrypter, if any), as a compare-and-swap object. */
export function objectAt<V>(
  ctx: LayoutContext,
  key: string,
  format: ObjectFormat<V>,
): TransactionalObject<V> {
  return new TransactionalObject<V>(ctx.store, key, {
    decode: async (body, k) => format.decode(await decodeObject(body, k, ctx.encrypter), k),
    encode: (value, k) => encodeObject(format.encode(value), k, ctx.encrypter),
  });
}

/** The object at `key` with its etag, or `undefined` when there is none. */
export function readObject<V>(
  ctx: LayoutContext,
  key: string,
  format: ObjectFormat<V>,
): Promise<Versioned<V> | undefined> {
  return objectAt(ctx, key, format).read();
}

/**
 * Read-modify-write of one object (`TransactionalObject.update`): `decide` sees the freshest
 * value and may throw to abort without writing; on a lost race it is asked again, so writers in
 * other processes never lose each other's changes.
 */
export async function updateObject<V>(
  ctx: LayoutContext,
  key: string,
  format: ObjectFormat<V>,
  decide: (current: V | undefined) => Change<V> | Promise<Change<V>>,
): Promise<UpdateResult<V>> {
  const { before, after } = await objectAt(ctx, key, format).update((current) => decide(current?.value));
  return { before: before?.value, after: after?.value };
}
