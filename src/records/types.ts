import type { LockHolder, StateKeeperError } from "../errors.js";
import type { RecordLayoutName } from "./keys.js";

/** Lifecycle states of a resource, as the engines write them. */
export const RESOURCE_STATUSES = [
  "planned",
  "provisioning",
  "active",
  "destroying",
  "destroyed",
  "error",
] as const;
export type ResourceStatus = (typeof RESOURCE_STATUSES)[number];
/**
 * A record's status: one of the six `RESOURCE_STATUSES`, or any other non-empty string of at
 * most 128 bytes (`"pending"`, `"drifted"`…), as DigitalOcean's Spaces store accepted.
 */
export type RecordStatus = ResourceStatus | (string & {});

/**
 * The state of one infrastructure resource, with the snake_case JSON names of DigitalOcean's Spaces store so records
 * round-trip with the engines (`workflow`'s `module.IaCState`).
 */
export interface IaCState {
  resource_id: string;
  /** e.g. "kubernetes", "ecs"; "" when unknown. */
  resource_type: string;
  /** e.g. "aws", "gcp", "local"; "" when unknown. */
  provider: string;
  provider_ref?: string;
  provider_id?: string;
  config_hash?: string;
  status: RecordStatus;
  /** Provider-specific outputs, free-form JSON. */
  outputs: Record<string, unknown>;
  /** The config used to provision, free-form JSON. */
  config: Record<string, unknown>;
  dependencies?: string[];
  /** RFC 3339; set on the first save and kept by every later one. */
  created_at: string;
  /** RFC 3339; the caller's when given to `save`, else set to now by every save. */
  updated_at: string;
  error?: string;
}

/**
 * What `save` accepts: an `IaCState` whose timestamps, `outputs`, `config`, `resource_type` and
 * `provider` may be left out (they default to now, `{}` and `""`).
 */
export type IaCStateInput = Omit<
  IaCState,
  "resource_type" | "provider" | "outputs" | "config" | "created_at" | "updated_at"
> &
  Partial<Pick<IaCState, "resource_type" | "provider" | "outputs" | "config" | "created_at" | "updated_at">>;

/** A record and the etag of the object it was read from (pass it back as `ifMatch`). */
export interface RecordWithEtag {
  state: IaCState;
  etag: string;
}

/** Exact-match filter; the listed keys are ANDed; no key (or `{}`) matches every record. */
export interface RecordFilter {
  resource_type?: string;
  provider?: string;
  status?: RecordStatus;
}
export const RECORD_FILTER_KEYS = ["resource_type", "provider", "status"] as const;

/** A record object that exists but could not be read: corrupt JSON, a failed decrypt, an invalid body. */
export interface UnreadableRecord {
  /** The resource id the key stands for, or `undefined` when the key itself does not decode. */
  id: string | undefined;
  /** The store key. */
  key: string;
  /** Why (`E_CORRUPT`, `E_DECRYPT`, `E_TOO_LARGE`, …). */
  error: StateKeeperError;
}

/** The outcome of `list`: readable matches, sorted by id, and every record that could not be read. */
export interface RecordList {
  records: RecordWithEtag[];
  /** Never silently dropped: a record that cannot be read cannot be filtered, so it is always here. */
  unreadable: UnreadableRecord[];
}

export interface SaveRecordOptions {
  /** Compare-and-swap: save only if the record's current etag is this one. */
  ifMatch?: string;
  /** Create-only: save only if no record with this id exists. */
  ifNoneMatch?: "*";
}

export interface DeleteRecordOptions {
  /** Delete only if the record's current etag is this one. */
  ifMatch?: string;
}

export interface RecordLockOptions {
  /** What the holder is doing, recorded in the lock ("apply", "destroy", …). */
  operation?: string;
}

/** A held per-resource lock. Pass it (or its `id`) to `unlock`. */
export interface RecordLock {
  /** The locked resource. */
  resourceId: string;
  /** Random 128-bit hex id of this acquisition; the lock object records it. */
  id: string;
  holder: LockHolder;
}

/**
 * Per-resource state records over any `ObjectStore`.
 *
 * Errors: `E_INVALID_NAME` (bad id, before any I/O), `E_INVALID_RECORD` (bad state, before any
 * I/O), `E_INVALID_ARGUMENT`, `E_CONFLICT` (a conditional save/delete lost), `E_NOT_FOUND`,
 * `E_LOCKED`, `E_CORRUPT`/`E_DECRYPT` (a stored record cannot be read), `E_UNSUPPORTED_STORE`
 * (the store does not honour create-only or compare-and-swap; checked before the first write),
 * plus the store's own errors.
 */
export interface RecordStore {
  /** The normalised prefix every key starts with ("" or ending in "/"). */
  readonly prefix: string;
  /** The key layout: statekeeper's lossless keys, or DigitalOcean's Spaces keys (docs/records.md). */
  readonly layout: RecordLayoutName;
  /** The record and its etag, or `undefined` when there is none. Unreadable → `E_CORRUPT`/`E_DECRYPT`. */
  get(id: string): Promise<RecordWithEtag | undefined>;
  /**
   * Writes a record and returns its new etag. Without options: overwrite (create if missing).
   * `ifMatch`: only over that exact version; `ifNoneMatch: "*"`: only if missing. A lost
   * condition is `E_CONFLICT` and writes nothing. `created_at` is kept from the stored record
   * (or taken from the input, or now, on the first save); `updated_at` is the input's when given,
   * else now. In the spaces layout, an id whose key holds another id's record is
   * `E_ALREADY_EXISTS` naming both, before any write.
   */
  save(state: IaCStateInput, opts?: SaveRecordOptions): Promise<string>;
  /** Readable records matching `filter` (AND of exact matches) plus every unreadable record. */
  list(filter?: RecordFilter): Promise<RecordList>;
  /** Removes a record. Missing → `E_NOT_FOUND`; `ifMatch` mismatch → `E_CONFLICT`. Its lock is left alone. */
  delete(id: string, opts?: DeleteRecordOptions): Promise<void>;
  /** Takes the resource's lock without waiting; held → `LockedError` naming holder and since-when. */
  lock(id: string, opts?: RecordLockOptions): Promise<RecordLock>;
  /**
   * Releases a lock taken by `lock`, given its handle or lock id. Not locked → `E_NOT_FOUND`;
   * locked by someone else → `LockedError` and the lock is left in place.
   *
   * Without a handle or lock id — the force form, what DigitalOcean's `Unlock(resourceID)` did —
   * it removes whichever lock is there, whoever holds it, and returns that holder (`undefined`
   * when the lock object could not be read). Not locked → `E_NOT_FOUND`, as in the original.
   * Returns the released holder in both forms.
   */
  unlock(id: string, lock?: RecordLock | string): Promise<LockHolder | undefined>;
  /** Removes whatever lock the resource has; returns its holder, `undefined` when it was not locked. */
  forceUnlock(id: string): Promise<LockHolder | undefined>;
  /** The current holder, or `undefined` when not locked. An unparseable lock → `E_CORRUPT`. */
  lockInfo(id: string): Promise<LockHolder | undefined>;
}
