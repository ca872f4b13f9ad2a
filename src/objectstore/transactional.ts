import { StateKeeperError } from "../errors.js";
import { backoffDelayMs, CONTENTION_BACKOFF, sleep } from "../internal/backoff.js";
import { storeCapabilities } from "./probe.js";
import { isStoreError, type ObjectStore } from "./types.js";

/** How the value of one object is stored. `decode` throws for bytes it cannot read (`E_CORRUPT`, …). */
export interface ObjectCodec<T> {
  decode(body: Uint8Array, key: string): T | Promise<T>;
  encode(value: T, key: string): Uint8Array | Promise<Uint8Array>;
}

/** A stored value and the etag a compare-and-swap over it must name. */
export interface Versioned<T> {
  value: T;
  etag: string;
}

/** What an update does with the freshest value: write this one, remove the object, or leave it. */
export type Mutation<T> = { put: T } | { remove: true } | { keep: true };

export interface UpdateOptions {
  /** Stops retrying when it aborts; the call rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Lost races tolerated before `E_CONTENDED`. Default 200. */
  maxAttempts?: number;
}

export interface UpdateResult<T> {
  /** What the mutator saw (undefined: no object). */
  before: Versioned<T> | undefined;
  /** What is stored now (undefined: removed, or there was nothing and the mutator kept that). */
  after: Versioned<T> | undefined;
}

export const DEFAULT_UPDATE_ATTEMPTS = 200;

/**
 * One object changed only by compare-and-swap — the one primitive every mutable thing statekeeper
 * stores is written with (the `current` pointer, locks, records, deployment records, name
 * records, event partitions). Reads return the value with its etag; `swap` is one conditional
 * write; `update` is read → mutate → conditional write, re-read on a lost race with a short
 * jittered backoff, bounded (`E_CONTENDED`), abortable.
 *
 * Ambiguous outcomes (a lost response) are not handled here: the store's own retry layer settles
 * them (see `retryingStore`), so a `PRECONDITION_FAILED` seen here means another writer won —
 * possibly after building on a write of ours whose answer was lost (`swap`'s `unsettled`).
 */
export class TransactionalObject<T> {
  readonly store: ObjectStore;
  readonly key: string;
  readonly #codec: ObjectCodec<T>;

  constructor(store: ObjectStore, key: string, codec: ObjectCodec<T>) {
    this.store = store;
    this.key = key;
    this.#codec = codec;
  }

  /** The stored value with its etag, or undefined when the object does not exist. */
  async read(): Promise<Versioned<T> | undefined> {
    const got = await this.store.get(this.key);
    if (got === undefined) return undefined;
    return { value: await this.#codec.decode(got.body, this.key), etag: got.etag };
  }

  /**
   * Writes `value` only over the version `expected` names (`null`: only if there is no object).
   * Returns the new version, or undefined when another writer got there first (nothing written).
   *
   * A failed condition after an attempt whose answer was lost is reported as a lost race too,
   * unless `options.unsettled` is "throw": then the store's `PRECONDITION_FAILED` with
   * `outcomeUnknown` is thrown, for a caller that can tell from the object's content whether the
   * lost attempt landed and was then replaced (see `retryingStore`).
   */
  async swap(
    value: T,
    expected: string | null,
    options: { unsettled?: "lost" | "throw" } = {},
  ): Promise<Versioned<T> | undefined> {
    const body = await this.#codec.encode(value, this.key);
    try {
      const { etag } = await this.store.put(
        this.key,
        body,
        expected === null ? { ifNoneMatch: "*" } : { ifMatch: expected },
      );
      return { value, etag };
    } catch (e) {
      if (
        isStoreError(e, "PRECONDITION_FAILED", "CONFLICT") &&
        !(e.outcomeUnknown && options.unsettled === "throw")
      )
        return undefined;
      throw e;
    }
  }

  /**
   * Removes the version `expected` names; false when the object changed or is gone. Where the
   * store ignores a conditional DELETE (Ceph RGW 16), it reads, compares, then deletes: a write
   * landing between the two is lost, which callers accept only for objects they own (a lock).
   */
  async remove(expected: string): Promise<boolean> {
    const caps = await storeCapabilities(this.store);
    if (!caps.conditionalDelete) {
      const now = await this.store.head(this.key);
      if (now === undefined || now.etag !== expected) return false;
      await this.store.delete(this.key);
      return true;
    }
    try {
      await this.store.delete(this.key, { ifMatch: expected });
      return true;
    } catch (e) {
      if (isStoreError(e, "PRECONDITION_FAILED")) return false;
      throw e;
    }
  }

  /**
   * Read → `mutate` → conditional write of exactly the version read (create-only when there was
   * none); on a lost race, back off, re-read and ask `mutate` again. `mutate` may throw to abort
   * without writing. Returns what it saw and what is stored after.
   */
  async update(
    mutate: (current: Versioned<T> | undefined) => Mutation<T> | Promise<Mutation<T>>,
    options: UpdateOptions = {},
  ): Promise<UpdateResult<T>> {
    const maxAttempts = options.maxAttempts ?? DEFAULT_UPDATE_ATTEMPTS;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      options.signal?.throwIfAborted();
      const before = await this.read();
      const change = await mutate(before);
      if ("keep" in change) return { before, after: before };
      if ("put" in change) {
        const after = await this.swap(change.put, before?.etag ?? null);
        if (after !== undefined) return { before, after };
      } else if (before === undefined || (await this.remove(before.etag))) {
        return { before, after: undefined };
      }
      await sleep(backoffDelayMs(CONTENTION_BACKOFF, attempt), options.signal);
    }
    throw contended(this.key, maxAttempts);
  }
}

/** Giving up after other writers won `attempts` races in a row for `key`. */
export function contended(key: string, attempts: number, cause?: unknown): StateKeeperError {
  return new StateKeeperError(
    "E_CONTENDED",
    `gave up writing ${key}: other writers changed it ${attempts} times in a row`,
    { details: { key, attempts }, ...(cause === undefined ? {} : { cause }) },
  );
}
