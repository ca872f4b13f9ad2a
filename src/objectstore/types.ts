import {
  type ErrorCode,
  isStateKeeperError,
  StateKeeperError,
  type StateKeeperErrorOptions,
} from "../errors.js";

/** Metadata of one stored object. */
export interface ObjectInfo {
  /** The key, relative to the store (never including the store's own root or bucket prefix). */
  key: string;
  /** Size of the body in bytes. */
  size: number;
  /** Opaque version tag. Pass it back unchanged as `ifMatch`; never parse it. */
  etag: string;
  /** When the store last wrote the object, by the store's clock, where the store reports it. */
  lastModified?: Date;
  /** The `putId` of the write that stored this version, where the driver keeps it (see `PutOptions.putId`). */
  putId?: string;
}

/** A stored object, as `get` returns it. */
export interface StoredObject {
  body: Uint8Array;
  etag: string;
  /** The `putId` of the write that stored this version, where the driver keeps it. */
  putId?: string;
}

/** Conditions for `put`. At most one of `ifMatch` and `ifNoneMatch` may be given. */
export interface PutOptions {
  /** Compare-and-swap: write only if the object's current etag is this one. */
  ifMatch?: string;
  /** Create-only: write only if no object exists at the key. */
  ifNoneMatch?: "*";
  /**
   * An id (1–64 of `[A-Za-z0-9_-]`) the driver stores with this version and returns from `get`
   * and `head`, so a write whose outcome was unknown (a lost response, a 5xx after sending) can
   * be settled by reading: the version carrying our id is our write, and nothing else is, however
   * equal its bytes. `retryingStore` sets it on every write. Drivers whose writes always end with
   * a known outcome (memory keeps it anyway; file does not) may ignore it.
   */
  putId?: string;
  /**
   * `"deferred"`: this write may be undone by a power failure (the key then holds what it held
   * before, whole; never a torn object) until a later put without this option into the same
   * folder (the key up to its last `/`) returns, which makes both durable. Other processes see it
   * at once, as any write. For objects nothing names yet, written as a batch before the one
   * object that names them: a checkpoint's chunks, then its chunk list, one folder fsync for all.
   * Stores whose writes are durable when they return (S3, memory) ignore it; the file store
   * skips its folder fsync.
   */
  durability?: "deferred";
}

export interface DeleteOptions {
  /** Delete only if the object's current etag is this one (see `Capabilities.conditionalDelete`). */
  ifMatch?: string;
}

export interface ListOptions {
  /**
   * Folders whose objects the caller does not want: asked with a folder below the prefix, as a
   * key prefix ending in `/` (`stack/chunks/`); objects under a folder it answers true for are not
   * listed. A store whose listing costs per object (the file store `stat`s each) then never visits
   * them; a paged store (S3) filters its pages. It may be asked about a folder more than once.
   */
  skip?: (folder: string) => boolean;
  /**
   * Only keys after this one in byte order are listed (S3's `StartAfter`); it need not exist.
   * Finding the newest entries of a sequence stays one short listing however long it grew.
   */
  startAfter?: string;
}

/** What a store really honours, learned by `probe()` with real requests. */
export interface Capabilities {
  /** `put(…, { ifNoneMatch: "*" })` fails on an existing key. */
  createOnly: boolean;
  /** `put(…, { ifMatch })` fails on a wrong etag and succeeds on the right one. */
  compareAndSwap: boolean;
  /** `delete(…, { ifMatch })` leaves the object alone on a wrong etag. */
  conditionalDelete: boolean;
  /** Human-readable findings, one per check ("create-only: honoured", "conditional delete: ignored"...). */
  notes: string[];
}

/**
 * The one storage contract. Every higher layer (backend, records, deployments) works on every
 * implementation, so the local folder and S3 share one algorithm.
 *
 * Keys are `/`-separated relative paths; each segment is non-empty, not `.` or `..`, with no
 * backslash or control character (see `validateKey`). Drivers refuse anything else with
 * `E_INVALID_NAME` before any I/O.
 */
export interface ObjectStore {
  /** Driver name: "memory", "file", "s3", … */
  readonly name: string;
  /** The object and its etag, or `undefined` when the key does not exist. */
  get(key: string): Promise<StoredObject | undefined>;
  /** Metadata, or `undefined` when the key does not exist. */
  head(key: string): Promise<ObjectInfo | undefined>;
  /**
   * Writes the whole object atomically: a reader sees the old body or the new one, never a mix.
   * A failed condition throws `StoreError` with reason `PRECONDITION_FAILED` and writes nothing.
   * `ifMatch` on a missing key is a failed condition. Returns the new etag; writing identical
   * bytes again still yields an etag that a stale `ifMatch` cannot match only if the driver says
   * so — callers must not rely on etags changing for identical content.
   */
  put(key: string, body: Uint8Array, opts?: PutOptions): Promise<{ etag: string }>;
  /**
   * Removes the object. Deleting a missing key is not an error. With `ifMatch`, a mismatching
   * etag or a missing object throws `PRECONDITION_FAILED` (as `put` does); the check is atomic
   * only on stores whose `probe()` reports `conditionalDelete`, otherwise read-compare-delete.
   */
  delete(key: string, opts?: DeleteOptions): Promise<void>;
  /**
   * Every object whose key starts with `prefix`, sorted by key (byte order), across all pages,
   * except those under folders `options.skip` answers true for. A failure part-way throws; a
   * partial listing is never returned as if complete.
   */
  list(prefix: string, options?: ListOptions): AsyncIterable<ObjectInfo>;
  /** Checks with real requests which preconditions the store honours. Never throws for a "no". */
  probe(): Promise<Capabilities>;
}

/** Why a store operation failed, independent of the driver. */
export type StoreErrorReason =
  | "NOT_FOUND"
  | "PRECONDITION_FAILED"
  | "CONFLICT"
  | "AUTH_FAILED"
  | "RATE_LIMITED"
  | "UNSUPPORTED"
  | "UNAVAILABLE"
  | "INVALID_KEY"
  /** A call's options are wrong (contradictory or empty conditions, a body that is not bytes). */
  | "INVALID_ARGUMENT"
  /** The store cannot be used as configured (no region…); `details.option` names the setting. */
  | "INVALID_CONFIG";

const REASON_TO_CODE: Record<StoreErrorReason, ErrorCode> = {
  NOT_FOUND: "E_NOT_FOUND",
  PRECONDITION_FAILED: "E_PRECONDITION_FAILED",
  CONFLICT: "E_CONFLICT",
  AUTH_FAILED: "E_AUTH",
  RATE_LIMITED: "E_RATE_LIMITED",
  UNSUPPORTED: "E_UNSUPPORTED_STORE",
  UNAVAILABLE: "E_UNAVAILABLE",
  INVALID_KEY: "E_INVALID_NAME",
  INVALID_ARGUMENT: "E_INVALID_ARGUMENT",
  INVALID_CONFIG: "E_INVALID_CONFIG",
};

const RETRYABLE: ReadonlySet<StoreErrorReason> = new Set(["RATE_LIMITED", "UNAVAILABLE"]);

/**
 * A store operation failed. `reason` is the driver-independent cause (`PRECONDITION_FAILED`,
 * `CONFLICT`, …); `code` is the matching statekeeper code (`E_PRECONDITION_FAILED`, …).
 * `CONFLICT` (S3's 409 ConditionalRequestConflict, still there after the driver's retries): a
 * concurrent write won; the driver has checked, where it could read the object back, that its
 * own write did not land. Re-read, then decide.
 */
export class StoreError extends StateKeeperError {
  readonly reason: StoreErrorReason;
  readonly retryable: boolean;
  /**
   * The request may have been applied although it failed (its response was lost, a 5xx came
   * after the request was sent, a 409 ConditionalRequestConflict): a write must be settled by
   * reading before anyone concludes it did not happen. `retryingStore` settles writes by putId.
   */
  readonly outcomeUnknown: boolean;
  readonly key: string | undefined;

  constructor(
    reason: StoreErrorReason,
    message: string,
    options: StateKeeperErrorOptions & { key?: string; retryable?: boolean; outcomeUnknown?: boolean } = {},
  ) {
    super(REASON_TO_CODE[reason], message, {
      ...options,
      details: { ...(options.details ?? {}), reason, key: options.key },
    });
    this.name = "StoreError";
    this.reason = reason;
    this.retryable = options.retryable ?? RETRYABLE.has(reason);
    this.outcomeUnknown = options.outcomeUnknown ?? false;
    this.key = options.key;
  }
}

/**
 * True when `e` is a StoreError with one of the given reasons — recognised like every
 * statekeeper error, by brand and shape (a `reason` this table knows), so errors from another
 * copy of the package count too.
 */
export function isStoreError(e: unknown, ...reasons: StoreErrorReason[]): e is StoreError {
  if (!isStateKeeperError(e)) return false;
  const reason = (e as { reason?: unknown }).reason;
  if (typeof reason !== "string" || !Object.hasOwn(REASON_TO_CODE, reason)) return false;
  return reasons.length === 0 || reasons.includes(reason as StoreErrorReason);
}
