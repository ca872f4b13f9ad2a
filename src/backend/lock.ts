import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { LockedError, type LockHolder, LockLostError, StateKeeperError } from "../errors.js";
import { isStoreError, type ObjectStore } from "../objectstore/types.js";
import { decodeLockRecord, encodeJsonObject, type LockRecord, whoAmI } from "./layout.js";
import { BACKEND_ATTEMPTS } from "./retry.js";

export const DEFAULT_LEASE_MS = 30_000;
export const DEFAULT_POLL_MS = 500;
const MIN_LEASE_MS = 100;

export interface LockOptions {
  /** Stop waiting when this aborts; the thrown `LockedError` keeps `signal.reason` as its `cause`. */
  signal?: AbortSignal;
  /** Stop waiting after this long (the `cause` is then a `TimeoutError`). Default: wait indefinitely. */
  timeoutMs?: number;
  /** What the holder is doing ("apply", "push", …), shown to anyone who waits. Default "lock". */
  operation?: string;
  /** How long the lock survives without renewal (a crashed holder is taken over after it). Default 30 s. */
  leaseMs?: number;
  /** Mean delay between attempts while waiting, jittered ±50%. Default 500 ms. */
  pollMs?: number;
  /** Called once when the lock is found held by someone else and this call starts waiting. */
  onWait?: (holder: LockHolder) => void;
}

/** A held lock. The backend renews its lease in the background until `unlock()`. */
export interface Lock {
  readonly id: string;
  readonly holder: LockHolder;
  /** True once the lease was lost (taken over, force-unlocked, or not renewed in time). */
  readonly lost: boolean;
  /** Aborts when the lease is lost, so long-running work can stop early. */
  readonly signal: AbortSignal;
  /** The holder whose expired lease this lock took over, if any. */
  readonly tookOverFrom: LockHolder | undefined;
  /**
   * Releases the lock if it is still ours. Resolves `true` when released, `false` when the lock
   * was no longer ours (taken over or force-unlocked) — a successor's lock is never removed.
   */
  unlock(): Promise<boolean>;
}

/** The backend's side of a held lock. */
export interface HeldLock extends Lock {
  /** Throws `LockLostError` if the lease was lost or lapsed; called before every commit step. */
  assertHeld(): void;
  /** Marks the lock lost (aborting `signal`), e.g. when a commit found the stack fenced by a newer lock. */
  lose(why: string): void;
}

function holderOf(r: LockRecord): LockHolder {
  return { id: r.id, who: r.who, host: r.host, pid: r.pid, operation: r.operation, created: r.created };
}

export function describeHolder(h: LockHolder): string {
  return `${h.who} (pid ${h.pid} on ${h.host}, operation ${JSON.stringify(h.operation)}) since ${h.created}`;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** One signal that aborts when `signal` does or `timeoutMs` has passed (a `TimeoutError` reason). */
export function combineSignals(
  signal: AbortSignal | undefined,
  timeoutMs: number | undefined,
): AbortSignal | undefined {
  const signals: AbortSignal[] = [];
  if (signal !== undefined) signals.push(signal);
  if (timeoutMs !== undefined) signals.push(AbortSignal.timeout(timeoutMs));
  if (signals.length <= 1) return signals[0];
  return AbortSignal.any(signals);
}

function validateLockOptions(opts: LockOptions): { leaseMs: number; pollMs: number; operation: string } {
  const leaseMs = opts.leaseMs ?? DEFAULT_LEASE_MS;
  const pollMs = opts.pollMs ?? DEFAULT_POLL_MS;
  const operation = opts.operation ?? "lock";
  if (!Number.isFinite(leaseMs) || leaseMs < MIN_LEASE_MS)
    throw new StateKeeperError("E_INVALID_ARGUMENT", `lock: leaseMs must be a number >= ${MIN_LEASE_MS}`);
  if (!Number.isFinite(pollMs) || pollMs <= 0)
    throw new StateKeeperError("E_INVALID_ARGUMENT", "lock: pollMs must be a positive number");
  if (opts.timeoutMs !== undefined && (!Number.isFinite(opts.timeoutMs) || opts.timeoutMs < 0))
    throw new StateKeeperError("E_INVALID_ARGUMENT", "lock: timeoutMs must be a non-negative number");
  if (typeof operation !== "string" || operation.length > 200)
    throw new StateKeeperError(
      "E_INVALID_ARGUMENT",
      "lock: operation must be a string of at most 200 characters",
    );
  return { leaseMs, pollMs, operation };
}

/**
 * Takes the lock object at `key`: create-only PUT; if it exists, recognise our own id (a lost
 * response), or take over a lease that has expired, or wait and retry until the signal aborts.
 *
 * Expiry never compares clocks across machines: a waiter takes over only after it has seen the
 * *same* lock object (same etag) unchanged for a whole lease on its own monotonic clock. A live
 * holder renews (changing the etag) three times per lease, so skewed wall clocks cannot cause an
 * early takeover, and a crashed holder is taken over one lease after the waiter first saw it.
 */
export async function acquireLock(
  store: ObjectStore,
  key: string,
  opts: LockOptions = {},
): Promise<HeldLock> {
  const { leaseMs, pollMs, operation } = validateLockOptions(opts);
  const signal = combineSignals(opts.signal, opts.timeoutMs);
  const { who, host } = whoAmI();
  const record: LockRecord = {
    id: randomBytes(16).toString("hex"),
    who,
    host,
    pid: process.pid,
    operation,
    created: new Date().toISOString(),
    leaseMs,
    renewals: 0,
  };
  const body = encodeJsonObject(record);

  let observed: { etag: string; since: number } | undefined;
  let lastHolder: LockHolder | undefined;
  let waitingReported = false;
  let transientFailures = 0;
  // When a write of ours may have landed without our knowing (lost response), the lease of a lock
  // we later find holding our id runs from the earliest such send: never longer than it really is.
  let maybeLandedAt: number | undefined;

  for (;;) {
    let sentAt = performance.now();
    let existing: { body: Uint8Array; etag: string } | undefined;
    try {
      try {
        const { etag } = await store.put(key, body, { ifNoneMatch: "*" });
        return new LeasedLock(store, key, record, etag, sentAt, undefined);
      } catch (e) {
        if (!isStoreError(e, "PRECONDITION_FAILED", "CONFLICT")) throw e;
        if (isStoreError(e, "CONFLICT")) maybeLandedAt ??= sentAt;
      }
      existing = await store.get(key);
      transientFailures = 0;
    } catch (e) {
      maybeLandedAt ??= sentAt;
      // A transient failure may hide a create that landed: the next round's 412 and read of our
      // own id tell. Bounded, so an unreachable store still fails.
      if (!isStoreError(e) || !e.retryable || ++transientFailures >= BACKEND_ATTEMPTS) throw e;
      await sleep(Math.random() * 50 * 2 ** transientFailures, signal);
      if (signal?.aborted) throw lockedError(lastHolder, signal.reason);
      continue;
    }

    if (existing !== undefined) {
      const found = decodeLockRecord(key, existing.body);
      if (found.id === record.id) {
        // Our create was applied but its response was lost: the lock is ours.
        return new LeasedLock(store, key, found, existing.etag, maybeLandedAt ?? sentAt, undefined);
      }
      lastHolder = holderOf(found);
      const now = performance.now();
      if (observed === undefined || observed.etag !== existing.etag)
        observed = { etag: existing.etag, since: now };
      else if (now - observed.since >= found.leaseMs) {
        sentAt = performance.now();
        try {
          const { etag } = await store.put(key, body, { ifMatch: existing.etag });
          return new LeasedLock(store, key, record, etag, sentAt, lastHolder);
        } catch (e) {
          // Another waiter won the takeover, or ours landed and its response was lost (the driver's
          // retry then fails its precondition): the next round reads the lock and tells which.
          if (!isStoreError(e, "PRECONDITION_FAILED", "CONFLICT") && !(isStoreError(e) && e.retryable))
            throw e;
          maybeLandedAt ??= sentAt;
          if (isStoreError(e) && e.retryable && ++transientFailures >= BACKEND_ATTEMPTS) throw e;
          continue;
        }
      }
      if (!waitingReported) {
        waitingReported = true;
        opts.onWait?.(lastHolder);
      }
    }

    if (signal?.aborted) throw lockedError(lastHolder, signal.reason);
    // A lock deleted between our create and our read: retry at once.
    if (existing !== undefined) await sleep(pollMs * (0.5 + Math.random()), signal);
    if (signal?.aborted) throw lockedError(lastHolder, signal.reason);
  }
}

function lockedError(holder: LockHolder | undefined, reason: unknown): LockedError {
  const why =
    reason instanceof Error && reason.name === "TimeoutError"
      ? "timed out waiting for the lock"
      : "lock wait aborted";
  const by = holder === undefined ? "another process" : describeHolder(holder);
  return new LockedError(
    `${why}: state locked by ${by}; run 'statekeeper lock force-unlock' if the holder is gone`,
    holder,
    { cause: reason },
  );
}

class LeasedLock implements HeldLock {
  readonly id: string;
  readonly holder: LockHolder;
  readonly tookOverFrom: LockHolder | undefined;
  readonly #controller = new AbortController();
  readonly #store: ObjectStore;
  readonly #key: string;
  readonly #timer: NodeJS.Timeout;
  #record: LockRecord;
  #etag: string;
  /** Monotonic time the last confirmed write of our lock was *sent*: the lease runs from there. */
  #confirmedSentAt: number;
  #renewing = false;
  #released = false;

  constructor(
    store: ObjectStore,
    key: string,
    record: LockRecord,
    etag: string,
    sentAt: number,
    tookOverFrom: LockHolder | undefined,
  ) {
    this.#store = store;
    this.#key = key;
    this.#record = record;
    this.#etag = etag;
    this.#confirmedSentAt = sentAt;
    this.id = record.id;
    this.holder = holderOf(record);
    this.tookOverFrom = tookOverFrom;
    this.#timer = setInterval(() => void this.#renew(), Math.max(10, Math.floor(record.leaseMs / 3)));
    // A forgotten lock must not keep the process alive; its lease then simply expires.
    this.#timer.unref();
  }

  get lost(): boolean {
    return this.#controller.signal.aborted;
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  assertHeld(): void {
    if (this.#released) throw new LockLostError("the lock was already released");
    if (!this.lost && performance.now() - this.#confirmedSentAt >= this.#record.leaseMs)
      this.#markLost("the lease lapsed without a successful renewal (was the process paused?)");
    if (this.lost) {
      const reason: unknown = this.#controller.signal.reason;
      throw new LockLostError(`lock lost: ${reason instanceof Error ? reason.message : String(reason)}`, {
        cause: reason,
      });
    }
  }

  lose(why: string): void {
    this.#markLost(why);
  }

  #markLost(why: string): void {
    if (this.lost) return;
    clearInterval(this.#timer);
    this.#controller.abort(new LockLostError(why));
  }

  async #renew(): Promise<void> {
    if (this.#renewing || this.lost || this.#released) return;
    this.#renewing = true;
    const next: LockRecord = { ...this.#record, renewals: this.#record.renewals + 1 };
    const sentAt = performance.now();
    try {
      if (sentAt - this.#confirmedSentAt >= this.#record.leaseMs) {
        this.#markLost("the lease lapsed before it could be renewed");
        return;
      }
      try {
        const { etag } = await this.#store.put(this.#key, encodeJsonObject(next), { ifMatch: this.#etag });
        this.#accept(next, etag, sentAt);
      } catch (e) {
        if (!isStoreError(e, "PRECONDITION_FAILED", "CONFLICT")) {
          // Transient: try again next tick; the lease check above ends it if it lasts too long.
          return;
        }
        // Was it our own renewal whose response was lost? Only an exact match of our body counts.
        const now = await this.#store.get(this.#key);
        const found = now === undefined ? undefined : safeDecode(this.#key, now.body);
        if (now !== undefined && found?.id === next.id && found.renewals === next.renewals) {
          this.#accept(next, now.etag, sentAt);
        } else {
          this.#markLost(
            found === undefined
              ? "the lock was removed (force-unlocked?)"
              : `the lock was taken over by ${describeHolder(holderOf(found))}`,
          );
        }
      }
    } catch {
      // A failed read while checking: transient; the lease check decides on the next tick.
    } finally {
      this.#renewing = false;
    }
  }

  #accept(record: LockRecord, etag: string, sentAt: number): void {
    this.#record = record;
    this.#etag = etag;
    this.#confirmedSentAt = sentAt;
  }

  async unlock(): Promise<boolean> {
    if (this.#released) return false;
    this.#released = true;
    clearInterval(this.#timer);
    // Let an in-flight renewal settle so we delete against the newest etag.
    while (this.#renewing) await sleep(5, undefined);
    if (this.lost) return false;
    // Fails its precondition when the lock is gone or no longer ours. Where the store ignores
    // If-Match on DELETE (Ceph RGW 16) the driver reads, compares and deletes, never re-sending
    // a DELETE that may already have landed: that could remove a successor's fresh lock. The
    // window between its read and its delete is only open to a takeover once our lease expired.
    try {
      await this.#store.delete(this.#key, { ifMatch: this.#etag });
      return true;
    } catch (e) {
      if (isStoreError(e, "PRECONDITION_FAILED")) return false;
      throw e;
    }
  }
}

function safeDecode(key: string, body: Uint8Array): LockRecord | undefined {
  try {
    return decodeLockRecord(key, body);
  } catch {
    return undefined;
  }
}
