import { randomBytes } from "node:crypto";
import { hostname, userInfo } from "node:os";
import { LockedError, type LockHolder, LockLostError, StateKeeperError } from "../errors.js";
import { isStoreError, type ObjectStore } from "../objectstore/types.js";
import { type LeaseClock, systemClock } from "./clock.js";

/**
 * The lock object protocol (a stack log keeps its lock in its entries instead, with the same
 * holder records and the same lease rules: `src/backend/stack-log.ts`): a lock is an object
 * created only if absent (create-only PUT), holding who holds it. Stack locks carry a lease the
 * holder renews by compare-and-swap and a waiter may take over once it has seen the very same lock
 * object unchanged for a whole lease on its own monotonic clock (no wall clock is ever compared
 * across machines). Record locks are the same
 * object without a lease: held until released or broken, never waited for.
 */

export const DEFAULT_LEASE_MS = 30_000;
export const DEFAULT_POLL_MS = 500;
const MIN_LEASE_MS = 100;
/** Largest lock body parsed; a real one is a few hundred bytes. */
const MAX_LOCK_BYTES = 64 * 1024;
/** Largest `info` a holder may leave with its lock (a Terraform LockInfo is a few hundred bytes). */
const MAX_INFO_CHARS = 16 * 1024;

export interface LeaseOptions {
  /** How messages name what is locked: `stack webshop/prod`, `resource "db"`. */
  subject: string;
  /** What the holder is doing ("apply", "push", …), shown to anyone who finds it held. */
  operation?: string;
  /**
   * How long the lock survives without renewal; the holder renews it three times per lease. A
   * crashed holder's lock is taken over one lease after a waiter first saw it. Undefined: no
   * lease — the lock is never renewed, never expires, and is held until released or broken.
   */
  leaseMs?: number;
  /** Wait while someone else holds it; false: fail at once with `LockedError` naming the holder. */
  wait?: boolean;
  /** Mean delay between attempts while waiting, jittered ±50%. Default 500 ms. */
  pollMs?: number;
  /** Stop waiting after this long (the `LockedError`'s cause is then a `TimeoutError`). */
  timeoutMs?: number;
  /** Stop waiting when this aborts; the `LockedError` keeps `signal.reason` as its cause. */
  signal?: AbortSignal;
  /** Called once when the lock is found held by someone else and this call starts waiting. */
  onWait?: (holder: LockHolder) => void;
  /** Appended to `LockedError` messages, e.g. what to run when the holder is gone. */
  hint?: string;
  clock?: LeaseClock;
  /**
   * The lock's id, for a lock taken on behalf of a holder that names its own (a Terraform client's
   * LockInfo ID through `statekeeper serve`). Finding a lock with this id already there is success:
   * the same request, retried. Default: a fresh random id.
   */
  id?: string;
  /** Who holds it, when that is not this process (`pid` 0 for a holder without one). */
  holder?: { user: string; host: string; pid: number };
  /** What the holder said about itself, kept with the lock and returned by `readLease` (at most 16 KiB as JSON). */
  info?: Record<string, unknown>;
}

/** A lock this process holds. */
export interface HeldLease {
  readonly id: string;
  readonly holder: LockHolder;
  /** True once the lease was lost (taken over, force-unlocked, not renewed in time, fenced out). */
  readonly lost: boolean;
  /** Aborts when the lease is lost, so long-running work can stop early. */
  readonly signal: AbortSignal;
  /** The holder whose expired lease this lock took over, if any. */
  readonly tookOverFrom: LockHolder | undefined;
  /** Throws `LockLostError` if the lease was lost or has lapsed; call it before every write it guards. */
  assertHeld(): void;
  /** Marks the lease lost (e.g. the holder found itself fenced out by a newer lock). */
  lose(why: string): void;
  /**
   * Releases the lock if it is still ours. `true` when released, `false` when it was no longer
   * ours (taken over or force-unlocked): a successor's lock is never removed.
   */
  release(): Promise<boolean>;
}

/** What a lock object records. */
export interface LeaseRecord extends LockHolder {
  /** Absent for a lock without a lease. */
  leaseMs?: number;
  /** Bumped on every renewal, so a renewal always changes the object (and its etag) on every store. */
  renewals: number;
  /** What a holder outside this process said about itself (`LeaseOptions.info`). */
  info?: Record<string, unknown>;
}

/** `user@host (pid …, operation "…") since …`: a holder, for messages. */
export function describeHolder(h: LockHolder): string {
  return `${h.user}@${h.host} (pid ${h.pid}, operation ${JSON.stringify(h.operation)}) since ${h.since}`;
}

/** Only the `LockHolder` fields of a lock record (a `LockInfo` carries lease and renewals too). */
export function holderFields(h: LockHolder): LockHolder {
  return { id: h.id, user: h.user, host: h.host, pid: h.pid, operation: h.operation, since: h.since };
}

/** This process as a lock holder: user, host and pid, without failing where there is no user database. */
export function thisProcess(): { user: string; host: string; pid: number } {
  hostOfProcess ??= hostname();
  return { user: processUser(), host: hostOfProcess, pid: process.pid };
}

let userOfProcess: string | undefined;
/** The host name, looked up once: every log entry and commit names its writer (a system call each). */
let hostOfProcess: string | undefined;

/** The user this process runs as, looked up once (each lookup reads the user database). */
function processUser(): string {
  if (userOfProcess !== undefined) return userOfProcess;
  let user = process.env.USER ?? process.env.USERNAME ?? "unknown";
  try {
    user = userInfo().username;
  } catch {
    // Containers without a passwd entry: keep the environment's answer.
  }
  userOfProcess = user;
  return user;
}

function corruptLock(key: string, why: string, cause?: unknown): StateKeeperError {
  return new StateKeeperError("E_CORRUPT", `lock ${key} ${why}`, { details: { key }, cause });
}

/**
 * Parses a lock object; anything that is not a holder record is `E_CORRUPT`. Reads the fields of
 * earlier versions too: `who` as `user@host` (stack locks) or `user` (record locks), `created`.
 */
export function decodeLeaseRecord(key: string, bytes: Uint8Array): LeaseRecord {
  if (bytes.byteLength > MAX_LOCK_BYTES)
    throw corruptLock(key, `is ${bytes.byteLength} bytes, more than any lock`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (cause) {
    throw corruptLock(key, "is not a JSON object", cause);
  }
  return leaseRecordFrom(key, parsed);
}

/** A holder record from parsed JSON (a lock object's, or a stack log entry's `lock`); `E_CORRUPT` otherwise. */
export function leaseRecordFrom(key: string, parsed: unknown): LeaseRecord {
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    throw corruptLock(key, "is not a JSON object");
  const o = parsed as Record<string, unknown>;
  const { id, host, pid, operation, leaseMs, renewals, info } = o;
  if (typeof id !== "string" || id === "") throw corruptLock(key, "lacks a holder id");
  if (leaseMs !== undefined && (typeof leaseMs !== "number" || !Number.isFinite(leaseMs) || leaseMs <= 0))
    throw corruptLock(key, "has an invalid leaseMs");
  const hostName = typeof host === "string" ? host : "unknown";
  const who = typeof o.who === "string" ? o.who : undefined;
  const user =
    typeof o.user === "string"
      ? o.user
      : who?.endsWith(`@${hostName}`)
        ? who.slice(0, -hostName.length - 1)
        : (who ?? "unknown");
  const since = typeof o.since === "string" ? o.since : typeof o.created === "string" ? o.created : "unknown";
  return {
    id,
    user,
    host: hostName,
    pid: typeof pid === "number" ? pid : 0,
    operation: typeof operation === "string" ? operation : "",
    since,
    ...(typeof leaseMs === "number" ? { leaseMs } : {}),
    renewals: typeof renewals === "number" ? renewals : 0,
    ...(typeof info === "object" && info !== null && !Array.isArray(info)
      ? { info: info as Record<string, unknown> }
      : {}),
  };
}

function encodeLeaseRecord(r: LeaseRecord): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify(r)}\n`);
}

export function holderOf(r: LeaseRecord): LockHolder {
  return { id: r.id, user: r.user, host: r.host, pid: r.pid, operation: r.operation, since: r.since };
}

/** The lock object at `key` with its etag, or undefined when unlocked. Unparseable → `E_CORRUPT`. */
export async function readLease(
  store: ObjectStore,
  key: string,
): Promise<{ record: LeaseRecord; etag: string } | undefined> {
  const got = await store.get(key);
  return got === undefined ? undefined : { record: decodeLeaseRecord(key, got.body), etag: got.etag };
}

/**
 * Removes whatever lock is at `key`; returns its holder (undefined when unlocked or unreadable).
 * With `id`, removes it only while it is the lock with that id (by compare-and-delete, so a
 * lock taken meanwhile by someone else stays): held under another id → `LockedError` naming
 * that holder.
 */
export async function breakLease(
  store: ObjectStore,
  key: string,
  options: { id?: string; subject?: string } = {},
): Promise<LockHolder | undefined> {
  let found: { record: LeaseRecord; etag: string } | undefined;
  try {
    found = await readLease(store, key);
  } catch (e) {
    // An unreadable lock is exactly what breaking is for, but not what a conditional break names.
    if (!(e instanceof StateKeeperError && e.code === "E_CORRUPT") || options.id !== undefined) throw e;
  }
  if (options.id === undefined) {
    await store.delete(key);
    return found === undefined ? undefined : holderOf(found.record);
  }
  if (found === undefined) return undefined;
  const holder = holderOf(found.record);
  if (found.record.id !== options.id)
    throw lockedError(options.subject ?? `lock ${key}`, holder, { hint: `not the lock ${options.id}` });
  try {
    await store.delete(key, { ifMatch: found.etag });
  } catch (e) {
    if (!isStoreError(e, "PRECONDITION_FAILED")) throw e;
    // Replaced between the read and the delete: say by whom.
    return breakLease(store, key, options);
  }
  return holder;
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

export function validateLeaseOptions(opts: Omit<LeaseOptions, "subject">): {
  leaseMs: number | undefined;
  pollMs: number;
  operation: string;
} {
  const { leaseMs } = opts;
  const pollMs = opts.pollMs ?? DEFAULT_POLL_MS;
  const operation = opts.operation ?? "";
  const invalid = (m: string) => new StateKeeperError("E_INVALID_ARGUMENT", `lock: ${m}`);
  if (leaseMs !== undefined && (!Number.isFinite(leaseMs) || leaseMs < MIN_LEASE_MS))
    throw invalid(`leaseMs must be a number >= ${MIN_LEASE_MS}`);
  if (!Number.isFinite(pollMs) || pollMs <= 0) throw invalid("pollMs must be a positive number");
  if (opts.timeoutMs !== undefined && (!Number.isFinite(opts.timeoutMs) || opts.timeoutMs < 0))
    throw invalid("timeoutMs must be a non-negative number");
  if (typeof operation !== "string" || operation.length > 200)
    throw invalid("operation must be a string of at most 200 characters");
  if (opts.id !== undefined && (typeof opts.id !== "string" || opts.id === "" || opts.id.length > 200))
    throw invalid("id must be a non-empty string of at most 200 characters");
  if (opts.info !== undefined && (JSON.stringify(opts.info)?.length ?? Infinity) > MAX_INFO_CHARS)
    throw invalid(`info must encode to at most ${MAX_INFO_CHARS} characters of JSON`);
  return { leaseMs, pollMs, operation };
}

/**
 * Resumes a lock without a lease that was taken earlier, maybe by another process (a Terraform
 * client's lock, held across requests to `statekeeper serve`): a handle to the lock object with
 * this id, for writes it guards and for releasing it. No lock → `LockLostError`; another
 * lock → `LockedError` naming its holder; a lock with a lease is its holder's to renew and is
 * refused.
 */
export async function resumeLease(
  store: ObjectStore,
  key: string,
  id: string,
  opts: { subject: string; clock?: LeaseClock },
): Promise<HeldLease> {
  const clock = opts.clock ?? systemClock;
  const sentAt = clock.monotonic();
  const found = await readLease(store, key);
  if (found === undefined)
    throw new LockLostError(
      `${opts.subject} is not locked by ${id}: the lock was released, force-unlocked or expired`,
    );
  if (found.record.id !== id)
    throw lockedError(opts.subject, holderOf(found.record), { hint: `not the lock ${id}` });
  if (found.record.leaseMs !== undefined)
    throw new StateKeeperError(
      "E_INVALID_ARGUMENT",
      `${opts.subject}: lock ${id} has a lease that its holder renews; only a lock without a lease can be resumed`,
    );
  return new LeaseLock(store, key, found.record, found.etag, sentAt, undefined, clock);
}

export function lockedError(
  subject: string,
  holder: LockHolder | undefined,
  opts: { reason?: unknown; hint?: string | undefined; cause?: unknown },
): LockedError {
  const { reason } = opts;
  const waited =
    reason === undefined
      ? ""
      : reason instanceof Error && reason.name === "TimeoutError"
        ? "timed out waiting for the lock: "
        : "lock wait aborted: ";
  const by =
    holder === undefined ? "an unreadable lock object (inspect it, or break it)" : describeHolder(holder);
  return new LockedError(
    `${waited}${subject} is locked by ${by}${opts.hint === undefined ? "" : `; ${opts.hint}`}`,
    holder,
    {
      cause: reason ?? opts.cause,
    },
  );
}

/**
 * Takes the lock at `key`: a create-only PUT; if a lock is there, recognise our own (a create
 * whose response was lost and that the store settled as failed), else fail (`wait: false`) or
 * wait — polling, and taking over a lease that a waiter saw unchanged for its whole length —
 * until `timeoutMs` or `signal` ends the wait.
 */
export async function acquireLease(store: ObjectStore, key: string, opts: LeaseOptions): Promise<HeldLease> {
  const { leaseMs, pollMs, operation } = validateLeaseOptions(opts);
  const clock = opts.clock ?? systemClock;
  const signal = combineSignals(opts.signal, opts.timeoutMs);
  const record: LeaseRecord = {
    id: opts.id ?? randomBytes(16).toString("hex"),
    ...(opts.holder ?? thisProcess()),
    operation,
    since: clock.now().toISOString(),
    ...(leaseMs === undefined ? {} : { leaseMs }),
    renewals: 0,
    ...(opts.info === undefined ? {} : { info: opts.info }),
  };
  const body = encodeLeaseRecord(record);
  let observed: { etag: string; since: number } | undefined;
  let lastHolder: LockHolder | undefined;
  let waitingReported = false;

  for (;;) {
    // The lease runs from the moment a write that may have created the lock was sent.
    const sentAt = clock.monotonic();
    try {
      const { etag } = await store.put(key, body, { ifNoneMatch: "*" });
      return new LeaseLock(store, key, record, etag, sentAt, undefined, clock);
    } catch (e) {
      if (!isStoreError(e, "PRECONDITION_FAILED")) throw e;
    }
    let existing: { record: LeaseRecord; etag: string } | undefined;
    try {
      existing = await readLease(store, key);
    } catch (e) {
      // Never "acquired": a waiter would wait on a lock nobody renews, so it says what is wrong
      // (E_CORRUPT); a non-waiting caller hears that the resource is locked, by an unreadable lock.
      if (opts.wait === true || !(e instanceof StateKeeperError && e.code === "E_CORRUPT")) throw e;
      throw lockedError(opts.subject, undefined, { hint: opts.hint, cause: e });
    }
    if (existing !== undefined) {
      const found = existing.record;
      if (found.id === record.id)
        return new LeaseLock(store, key, found, existing.etag, sentAt, undefined, clock);
      lastHolder = holderOf(found);
      if (opts.wait !== true) throw lockedError(opts.subject, lastHolder, { hint: opts.hint });
      const now = clock.monotonic();
      if (observed === undefined || observed.etag !== existing.etag)
        observed = { etag: existing.etag, since: now };
      else if (found.leaseMs !== undefined && now - observed.since >= found.leaseMs) {
        const takeoverSentAt = clock.monotonic();
        try {
          const { etag } = await store.put(key, body, { ifMatch: existing.etag });
          return new LeaseLock(store, key, record, etag, takeoverSentAt, lastHolder, clock);
        } catch (e) {
          // Another waiter won the takeover: the next round reads who.
          if (!isStoreError(e, "PRECONDITION_FAILED")) throw e;
          continue;
        }
      }
      if (!waitingReported) {
        waitingReported = true;
        opts.onWait?.(lastHolder);
      }
    }
    if (signal?.aborted)
      throw lockedError(opts.subject, lastHolder, { reason: signal.reason, hint: opts.hint });
    // A lock deleted between our create and our read: try again at once.
    if (existing !== undefined) await clock.sleep(pollMs * (0.5 + Math.random()), signal);
    if (signal?.aborted)
      throw lockedError(opts.subject, lastHolder, { reason: signal.reason, hint: opts.hint });
  }
}

/**
 * A held lease, whatever writes it (the lock object here, or the entries of a stack log): when
 * the holder's last confirmed write was *sent* (the lease runs from there, on the holder's
 * monotonic clock), whether it was lost, and the renewal timer — a third of the lease. Subclasses
 * write and release.
 */
export abstract class HolderLease implements HeldLease {
  abstract readonly id: string;
  abstract readonly holder: LockHolder;
  abstract readonly tookOverFrom: LockHolder | undefined;
  readonly #controller = new AbortController();
  readonly #clock: LeaseClock;
  readonly #leaseMs: number | undefined;
  #confirmedSentAt: number;
  #stopRenewing: () => void = () => {};
  #released = false;

  constructor(clock: LeaseClock, leaseMs: number | undefined, sentAt: number) {
    this.#clock = clock;
    this.#leaseMs = leaseMs;
    this.#confirmedSentAt = sentAt;
  }

  abstract release(): Promise<boolean>;

  get lost(): boolean {
    return this.#controller.signal.aborted;
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  assertHeld(): void {
    if (this.#released) throw new LockLostError("the lock was already released");
    if (!this.lost && this.lapsed())
      this.lose("the lease lapsed without a successful renewal (was the process paused?)");
    if (this.lost) {
      const reason: unknown = this.#controller.signal.reason;
      throw new LockLostError(`lock lost: ${reason instanceof Error ? reason.message : String(reason)}`, {
        cause: reason,
      });
    }
  }

  lose(why: string): void {
    if (this.lost) return;
    this.#stopRenewing();
    this.#controller.abort(new LockLostError(why));
  }

  /** How often the holder renews: a third of its lease (0: no lease, never renewed). */
  protected get renewEvery(): number {
    return this.#leaseMs === undefined ? 0 : Math.max(10, Math.floor(this.#leaseMs / 3));
  }

  /** Calls `tick` every `renewEvery` until the lease is lost or released; nothing without a lease. */
  protected renewWith(tick: () => void): void {
    if (this.#leaseMs !== undefined) this.#stopRenewing = this.#clock.every(this.renewEvery, tick);
  }

  protected get released(): boolean {
    return this.#released;
  }

  /** Now, on the lease's clock: what a write records as its sending time. */
  protected now(): number {
    return this.#clock.monotonic();
  }

  /** Milliseconds since the last confirmed write was sent. */
  protected sinceConfirmed(): number {
    return this.#clock.monotonic() - this.#confirmedSentAt;
  }

  /** A write sent at `sentAt` is confirmed: the lease runs from there. */
  protected confirm(sentAt: number): void {
    this.#confirmedSentAt = sentAt;
  }

  protected lapsed(): boolean {
    return this.#leaseMs !== undefined && this.sinceConfirmed() >= this.#leaseMs;
  }

  /** Marks it released and stops renewing; false when it already was. */
  protected markReleased(): boolean {
    if (this.#released) return false;
    this.#released = true;
    this.#stopRenewing();
    return true;
  }
}

class LeaseLock extends HolderLease {
  readonly id: string;
  readonly holder: LockHolder;
  readonly tookOverFrom: LockHolder | undefined;
  readonly #store: ObjectStore;
  readonly #key: string;
  #record: LeaseRecord;
  #etag: string;
  #renewing: Promise<void> | undefined;

  constructor(
    store: ObjectStore,
    key: string,
    record: LeaseRecord,
    etag: string,
    sentAt: number,
    tookOverFrom: LockHolder | undefined,
    clock: LeaseClock,
  ) {
    super(clock, record.leaseMs, sentAt);
    this.#store = store;
    this.#key = key;
    this.#record = record;
    this.#etag = etag;
    this.id = record.id;
    this.holder = holderOf(record);
    this.tookOverFrom = tookOverFrom;
    this.renewWith(() => {
      this.#renewing ??= this.#renew().finally(() => {
        this.#renewing = undefined;
      });
    });
  }

  async #renew(): Promise<void> {
    if (this.lost || this.released) return;
    if (this.lapsed()) return this.lose("the lease lapsed before it could be renewed");
    const next: LeaseRecord = { ...this.#record, renewals: this.#record.renewals + 1 };
    const sentAt = this.now();
    try {
      const { etag } = await this.#store.put(this.#key, encodeLeaseRecord(next), { ifMatch: this.#etag });
      this.#record = next;
      this.#etag = etag;
      this.confirm(sentAt);
    } catch (e) {
      // Transient: the next tick tries again, and the lease check ends it if it lasts too long.
      if (!isStoreError(e, "PRECONDITION_FAILED")) return;
      let found: { record: LeaseRecord; etag: string } | undefined;
      try {
        found = await readLease(this.#store, this.#key);
      } catch {
        found = undefined;
      }
      // Our own renewal, whose response was lost, on a store that could not settle it: only this
      // lock's id with this renewal count can have been written by us.
      if (found?.record.id === next.id && found.record.renewals === next.renewals) {
        this.#record = next;
        this.#etag = found.etag;
        this.confirm(sentAt);
        return;
      }
      this.lose(
        found === undefined
          ? "the lock was removed (force-unlocked?)"
          : `the lock was taken over by ${describeHolder(holderOf(found.record))}`,
      );
    }
  }

  async release(): Promise<boolean> {
    if (!this.markReleased()) return false;
    // Let an in-flight renewal settle so we delete against the newest etag.
    await this.#renewing;
    if (this.lost) return false;
    // Fails its precondition when the lock is gone or no longer ours. Where the store ignores
    // If-Match on DELETE (Ceph RGW 16) the driver reads, compares and deletes, and never
    // re-sends a DELETE that may have landed: that could remove a successor's fresh lock.
    try {
      await this.#store.delete(this.#key, { ifMatch: this.#etag });
      return true;
    } catch (e) {
      if (isStoreError(e, "PRECONDITION_FAILED")) return false;
      throw e;
    }
  }
}
