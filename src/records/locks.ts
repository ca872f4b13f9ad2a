import { randomBytes } from "node:crypto";
import { hostname, userInfo } from "node:os";
import { LockedError, type LockHolder, StateKeeperError } from "../errors.js";
import { type Capabilities, isStoreError, type ObjectStore } from "../objectstore/types.js";
import { lockKey, validateResourceId } from "./keys.js";
import type { RecordLock, RecordLockOptions } from "./types.js";

/** Largest lock body we parse; a real one is a few hundred bytes. */
const MAX_LOCK_BYTES = 64 * 1024;

export interface LockContext {
  store: ObjectStore;
  prefix: string;
  /** Resolves once the store is known to honour the preconditions the lock relies on. */
  writable(): Promise<Capabilities>;
}

function currentUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? process.env.USERNAME ?? "unknown";
  }
}

/** Parses a lock body; anything that is not a complete holder record is `E_CORRUPT`. */
export function parseLockBody(body: Uint8Array, resourceId: string): LockHolder {
  const corrupt = (cause?: unknown) =>
    new StateKeeperError("E_CORRUPT", `lock of resource ${JSON.stringify(resourceId)} is unreadable`, {
      cause,
      details: { id: resourceId },
    });
  if (body.byteLength > MAX_LOCK_BYTES) throw corrupt();
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch (cause) {
    throw corrupt(cause);
  }
  if (typeof parsed !== "object" || parsed === null) throw corrupt();
  const o = parsed as Record<string, unknown>;
  const strings = ["id", "who", "host", "operation", "created"] as const;
  if (!strings.every((f) => typeof o[f] === "string") || typeof o.pid !== "number") throw corrupt();
  return {
    id: o.id as string,
    who: o.who as string,
    host: o.host as string,
    pid: o.pid as number,
    operation: o.operation as string,
    created: o.created as string,
  };
}

function lockedError(resourceId: string, holder: LockHolder | undefined, cause?: unknown): LockedError {
  const by =
    holder === undefined
      ? "by an unreadable lock object (inspect it, or force-unlock)"
      : `by ${holder.who}@${holder.host} (pid ${holder.pid}, operation ${JSON.stringify(holder.operation)}) since ${holder.created}`;
  return new LockedError(`resource ${JSON.stringify(resourceId)} is locked ${by}`, holder, {
    cause,
    details: { id: resourceId },
  });
}

/** The holder recorded in the lock, `undefined` when there is none. */
export async function readLock(
  ctx: LockContext,
  resourceId: string,
): Promise<{ holder: LockHolder; etag: string } | undefined> {
  const found = await ctx.store.get(lockKey(ctx.prefix, resourceId));
  return found === undefined
    ? undefined
    : { holder: parseLockBody(found.body, resourceId), etag: found.etag };
}

/**
 * One create-only PUT: the lock is ours or the call fails at once naming the holder. A 409
 * (the PUT may or may not have landed) is settled by reading the lock back and comparing ids.
 */
export async function acquireLock(
  ctx: LockContext,
  id: string,
  opts: RecordLockOptions = {},
): Promise<RecordLock> {
  validateResourceId(id);
  if (opts.operation !== undefined && typeof opts.operation !== "string")
    throw new StateKeeperError("E_INVALID_ARGUMENT", "lock: operation must be a string");
  const key = lockKey(ctx.prefix, id);
  await ctx.writable();
  const holder: LockHolder = {
    id: randomBytes(16).toString("hex"),
    who: currentUser(),
    host: hostname(),
    pid: process.pid,
    operation: opts.operation ?? "",
    created: new Date().toISOString(),
  };
  const body = new TextEncoder().encode(JSON.stringify(holder));
  // A lock seen to exist and then gone before we could read it is retried, a bounded number of times.
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const { etag } = await ctx.store.put(key, body, { ifNoneMatch: "*" });
      return { resourceId: id, id: holder.id, etag, holder };
    } catch (e) {
      if (!isStoreError(e, "PRECONDITION_FAILED", "CONFLICT")) throw e;
      const found = await ctx.store.get(key);
      if (found === undefined) continue;
      let current: LockHolder;
      try {
        current = parseLockBody(found.body, id);
      } catch (corrupt) {
        throw lockedError(id, undefined, corrupt);
      }
      if (current.id === holder.id) return { resourceId: id, id: holder.id, etag: found.etag, holder };
      throw lockedError(id, current, e);
    }
  }
  throw new StateKeeperError(
    "E_CONTENDED",
    `lock of resource ${JSON.stringify(id)} kept changing; try again`,
    {
      details: { id },
    },
  );
}

/**
 * Removes the lock only if it is still the one `lock` names: by `delete` with `ifMatch` where
 * the store honours it, else by read-compare-delete (RGW ignores If-Match on DELETE).
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
  const caps = await ctx.writable();
  const key = lockKey(ctx.prefix, id);
  const found = await readLock(ctx, id);
  if (found === undefined)
    throw new StateKeeperError("E_NOT_FOUND", `resource ${JSON.stringify(id)} is not locked`, {
      details: { id },
    });
  if (found.holder.id !== lockId) throw lockedError(id, found.holder);
  if (!caps.conditionalDelete) {
    await ctx.store.delete(key);
    return;
  }
  try {
    await ctx.store.delete(key, { ifMatch: found.etag });
  } catch (e) {
    if (!isStoreError(e, "PRECONDITION_FAILED")) throw e;
    const now = await readLock(ctx, id);
    if (now !== undefined && now.holder.id !== lockId) throw lockedError(id, now.holder, e);
    throw e;
  }
}

/** Removes any lock on the resource; returns who held it (`undefined` when nobody did or it was unreadable). */
export async function breakLock(ctx: LockContext, id: string): Promise<LockHolder | undefined> {
  validateResourceId(id);
  await ctx.writable();
  const key = lockKey(ctx.prefix, id);
  const found = await ctx.store.get(key);
  let holder: LockHolder | undefined;
  if (found !== undefined) {
    try {
      holder = parseLockBody(found.body, id);
    } catch {
      holder = undefined;
    }
  }
  await ctx.store.delete(key);
  return holder;
}
