import { LockedError, type LockHolder, StateKeeperError } from "../errors.js";
import { acquireLease, breakLease, describeHolder, holderOf, readLease } from "../lock/lease.js";
import { assertStoreSupported } from "../objectstore/probe.js";
import { isStoreError, type ObjectStore } from "../objectstore/types.js";
import { lockKey, validateResourceId } from "./keys.js";
import type { RecordLock, RecordLockOptions } from "./types.js";

/**
 * Per-resource locks: the lease lock of `src/lock/lease.ts` without a lease — one create-only
 * PUT, held until released or broken, never waited for (held → `LockedError` at once).
 */
export interface LockContext {
  store: ObjectStore;
  prefix: string;
}

const subject = (id: string) => `resource ${JSON.stringify(id)}`;

/** The holder recorded in the lock, `undefined` when there is none. Unparseable → `E_CORRUPT`. */
export async function readLock(ctx: LockContext, id: string): Promise<LockHolder | undefined> {
  validateResourceId(id);
  const found = await readLease(ctx.store, lockKey(ctx.prefix, id));
  return found === undefined ? undefined : holderOf(found.record);
}

export async function acquireLock(
  ctx: LockContext,
  id: string,
  opts: RecordLockOptions = {},
): Promise<RecordLock> {
  validateResourceId(id);
  if (opts.operation !== undefined && typeof opts.operation !== "string")
    throw new StateKeeperError("E_INVALID_ARGUMENT", "lock: operation must be a string");
  await assertStoreSupported(ctx.store);
  const held = await acquireLease(ctx.store, lockKey(ctx.prefix, id), {
    subject: subject(id),
    wait: false,
    operation: opts.operation ?? "",
  });
  return { resourceId: id, id: held.id, holder: held.holder };
}

/**
 * Removes the lock only if it is still the one `lock` names (a conditional delete against the
 * version read). Not locked → `E_NOT_FOUND`; someone else's → `LockedError`, left in place.
 */
export async function releaseLock(ctx: LockContext, id: string, lock: RecordLock | string): Promise<void> {
  validateResourceId(id);
  const lockId = typeof lock === "string" ? lock : lock?.id;
  if (typeof lockId !== "string" || lockId === "")
    throw new StateKeeperError("E_INVALID_ARGUMENT", "unlock: give the lock handle or its id");
  if (typeof lock !== "string" && lock.resourceId !== id)
    throw new StateKeeperError(
      "E_INVALID_ARGUMENT",
      `unlock: the lock handle is for resource ${JSON.stringify(lock.resourceId)}, not ${JSON.stringify(id)}`,
    );
  await assertStoreSupported(ctx.store);
  const key = lockKey(ctx.prefix, id);
  const notLocked = () =>
    new StateKeeperError("E_NOT_FOUND", `resource ${JSON.stringify(id)} is not locked`, { details: { id } });
  const found = await readLease(ctx.store, key);
  if (found === undefined) throw notLocked();
  const held = (holder: LockHolder) =>
    new LockedError(`${subject(id)} is locked by ${describeHolder(holder)}`, holder, { details: { id } });
  if (found.record.id !== lockId) throw held(holderOf(found.record));
  try {
    await ctx.store.delete(key, { ifMatch: found.etag });
  } catch (e) {
    if (!isStoreError(e, "PRECONDITION_FAILED")) throw e;
    const now = await readLease(ctx.store, key);
    if (now === undefined) throw notLocked();
    if (now.record.id !== lockId) throw held(holderOf(now.record));
    throw e;
  }
}

/** Removes any lock on the resource; returns who held it (`undefined` when unlocked or unreadable). */
export async function breakLock(ctx: LockContext, id: string): Promise<LockHolder | undefined> {
  validateResourceId(id);
  await assertStoreSupported(ctx.store);
  return breakLease(ctx.store, lockKey(ctx.prefix, id));
}
