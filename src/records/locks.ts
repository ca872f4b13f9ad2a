import { LockedError, type LockHolder, StateKeeperError } from "../errors.js";
import {
  acquireLease,
  decodeLeaseRecord,
  describeHolder,
  holderOf,
  type LeaseRecord,
} from "../lock/lease.js";
import { assertStoreSupported } from "../objectstore/probe.js";
import { isStoreError, type ObjectStore } from "../objectstore/types.js";
import { type RecordLayout, validateResourceId } from "./keys.js";
import type { RecordLock, RecordLockOptions } from "./types.js";
import { isRfc3339 } from "./validate.js";

/**
 * Per-resource locks: the lease lock of `src/lock/lease.ts` without a lease — one create-only
 * PUT, held until released or broken, never waited for (held → `LockedError` at once).
 */
export interface LockContext {
  store: ObjectStore;
  prefix: string;
  layout: RecordLayout;
}

const subject = (id: string) => `resource ${JSON.stringify(id)}`;

/** Longest lock body DigitalOcean's Spaces store writes: an RFC 3339 UTC time (Go `time.RFC3339`). */
const MAX_SPACES_LOCK_BYTES = 64;

/**
 * A lock object's holder. Besides statekeeper's own lock records, this reads the lock DigitalOcean's
 * Spaces store writes (its Go `Lock`: the body is only the time it was taken, RFC 3339 UTC) as a
 * holder with that `since`, an empty lock id and user/host "unknown". Anything else is `E_CORRUPT`.
 */
export function decodeRecordLock(key: string, body: Uint8Array): LeaseRecord {
  try {
    return decodeLeaseRecord(key, body);
  } catch (e) {
    if (body.byteLength <= MAX_SPACES_LOCK_BYTES) {
      const text = new TextDecoder().decode(body).trim();
      if (isRfc3339(text))
        return { id: "", user: "unknown", host: "unknown", pid: 0, operation: "", since: text, renewals: 0 };
    }
    throw e;
  }
}

async function readRecordLock(
  ctx: LockContext,
  id: string,
): Promise<{ record: LeaseRecord; etag: string } | undefined> {
  const key = ctx.layout.lockKey(ctx.prefix, id);
  const got = await ctx.store.get(key);
  return got === undefined ? undefined : { record: decodeRecordLock(key, got.body), etag: got.etag };
}

/** The holder recorded in the lock, `undefined` when there is none. Unparseable → `E_CORRUPT`. */
export async function readLock(ctx: LockContext, id: string): Promise<LockHolder | undefined> {
  validateResourceId(id);
  const found = await readRecordLock(ctx, id);
  return found === undefined ? undefined : holderOf(found.record);
}

export async function acquireLock(
  ctx: LockContext,
  id: string,
  opts: RecordLockOptions = {},
): Promise<RecordLock> {
  const key = ctx.layout.lockKey(ctx.prefix, id);
  if (opts.operation !== undefined && typeof opts.operation !== "string")
    throw new StateKeeperError("E_INVALID_ARGUMENT", "lock: operation must be a string");
  await assertStoreSupported(ctx.store);
  try {
    const held = await acquireLease(ctx.store, key, {
      subject: subject(id),
      wait: false,
      operation: opts.operation ?? "",
    });
    return { resourceId: id, id: held.id, holder: held.holder };
  } catch (e) {
    // A lock the original wrote is not a lease record: name its holder (the time it was taken).
    if (!(e instanceof LockedError) || e.holder !== undefined) throw e;
    const found = await readRecordLock(ctx, id).catch(() => undefined);
    if (found === undefined) throw e;
    const holder = holderOf(found.record);
    throw new LockedError(`${subject(id)} is locked by ${describeHolder(holder)}`, holder, {
      details: { id },
    });
  }
}

/**
 * Removes the lock only if it is still the one `lock` names (a conditional delete against the
 * version read). Not locked → `E_NOT_FOUND`; someone else's → `LockedError`, left in place.
 * Without `lock`, the force form: removes whichever lock is there (see `RecordStore.unlock`).
 */
export async function releaseLock(
  ctx: LockContext,
  id: string,
  lock?: RecordLock | string,
): Promise<LockHolder | undefined> {
  validateResourceId(id);
  if (lock === undefined) return forceRelease(ctx, id);
  const lockId = typeof lock === "string" ? lock : lock?.id;
  if (typeof lockId !== "string" || lockId === "")
    throw new StateKeeperError(
      "E_INVALID_ARGUMENT",
      "unlock: give the lock handle or its id (or neither, for the force form)",
    );
  if (typeof lock !== "string" && lock.resourceId !== id)
    throw new StateKeeperError(
      "E_INVALID_ARGUMENT",
      `unlock: the lock handle is for resource ${JSON.stringify(lock.resourceId)}, not ${JSON.stringify(id)}`,
    );
  await assertStoreSupported(ctx.store);
  const key = ctx.layout.lockKey(ctx.prefix, id);
  const found = await readRecordLock(ctx, id);
  if (found === undefined) throw notLocked(id);
  const held = (holder: LockHolder) =>
    new LockedError(`${subject(id)} is locked by ${describeHolder(holder)}`, holder, { details: { id } });
  if (found.record.id !== lockId) throw held(holderOf(found.record));
  try {
    await ctx.store.delete(key, { ifMatch: found.etag });
  } catch (e) {
    if (!isStoreError(e, "PRECONDITION_FAILED")) throw e;
    const now = await readRecordLock(ctx, id);
    if (now === undefined) throw notLocked(id);
    if (now.record.id !== lockId) throw held(holderOf(now.record));
    throw e;
  }
  return holderOf(found.record);
}

const notLocked = (id: string) =>
  new StateKeeperError("E_NOT_FOUND", `resource ${JSON.stringify(id)} is not locked`, { details: { id } });

/** The force form of unlock: not locked → `E_NOT_FOUND`; any lock (even an unreadable one) removed. */
async function forceRelease(ctx: LockContext, id: string): Promise<LockHolder | undefined> {
  await assertStoreSupported(ctx.store);
  const key = ctx.layout.lockKey(ctx.prefix, id);
  const got = await ctx.store.get(key);
  if (got === undefined) throw notLocked(id);
  await ctx.store.delete(key);
  return holderOrUndefined(key, got.body);
}

function holderOrUndefined(key: string, body: Uint8Array): LockHolder | undefined {
  try {
    return holderOf(decodeRecordLock(key, body));
  } catch {
    return undefined;
  }
}

/** Removes any lock on the resource; returns who held it (`undefined` when unlocked or unreadable). */
export async function breakLock(ctx: LockContext, id: string): Promise<LockHolder | undefined> {
  validateResourceId(id);
  await assertStoreSupported(ctx.store);
  const key = ctx.layout.lockKey(ctx.prefix, id);
  const got = await ctx.store.get(key);
  if (got === undefined) return undefined;
  await ctx.store.delete(key);
  return holderOrUndefined(key, got.body);
}
