import { randomBytes } from "node:crypto";
import { backoffDelayMs, sleep, TRANSIENT_BACKOFF } from "../internal/backoff.js";
import { isStoreError, type ObjectStore, type PutOptions, StoreError } from "./types.js";

/** How often, and how patiently, a store request is tried again after a transient failure. */
export interface RetryPolicy {
  /** Attempts per request, the first included. Default 4. */
  maxAttempts: number;
  /** The first wait is drawn from [0, baseDelayMs], each later one from a range twice as wide (capped at 5 s). */
  baseDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 4, baseDelayMs: TRANSIENT_BACKOFF.baseMs };

export interface RetryingStoreOptions extends Partial<RetryPolicy> {
  /** Hears of every request whose outcome was unknown, settled or not (the probe distrusts such runs). */
  onUnknownOutcome?: (e: StoreError) => void;
}

const retryable = (e: unknown): e is StoreError => isStoreError(e) && (e.retryable || e.outcomeUnknown);

/**
 * Runs one store request up to `policy.maxAttempts` times while it fails with a retryable or
 * unknown-outcome StoreError, with full-jitter backoff; anything else is thrown at once. For
 * requests that change nothing (reads, list pages), or whose repetition is harmless.
 */
export async function withRetries<T>(
  policy: RetryPolicy,
  request: (attempt: number) => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await request(attempt);
    } catch (e) {
      if (!retryable(e) || attempt >= policy.maxAttempts) throw e;
      await sleep(backoffDelayMs({ baseMs: policy.baseDelayMs, capMs: TRANSIENT_BACKOFF.capMs }, attempt));
    }
  }
}

/** A fresh put id: 16 random bytes, base64url. */
export const newPutId = (): string => randomBytes(16).toString("base64url");

/**
 * The one place where store requests are retried and where writes with an unknown outcome are
 * settled. Wraps a driver whose operations make one attempt each and report, on failure,
 * whether the request may have been applied (`StoreError.outcomeUnknown`):
 *
 * - reads are retried on transient failures;
 * - every `put` carries a put id (`PutOptions.putId`) that the driver stores with the object.
 *   A put whose outcome was unknown is retried; a retry that fails its precondition, or a run of
 *   attempts that ends without an answer, is settled by reading the object's put id back: ours →
 *   the write landed (its etag is returned). Never by comparing bytes, which another writer's
 *   identical write would fool. Anything else settles a create-only put (nobody replaces a
 *   created key) or a put that still finds the version it named as "did not land"; a
 *   compare-and-swap that finds another version cannot tell "lost to another writer" from
 *   "landed, then replaced by a writer that built on it", so it fails with `outcomeUnknown` set
 *   — as `PRECONDITION_FAILED` when a retry's condition failed, which callers may still treat as
 *   a lost race, or settle by what the object's content says (the backend's `current` does);
 * - a conditional `delete` whose outcome was unknown is retried; if the retry finds the version
 *   it named gone or replaced, the earlier attempt landed (a successor's new object is never the
 *   one it deletes). An unconditional delete is retried only while the object is still there.
 *
 * A write that cannot be settled fails with `outcomeUnknown` set, so a caller never mistakes it
 * for "did not happen". `list` and `probe` pass through: drivers page and probe on their own.
 */
export function retryingStore(inner: ObjectStore, options: RetryingStoreOptions = {}): ObjectStore {
  const policy: RetryPolicy = {
    maxAttempts: options.maxAttempts ?? DEFAULT_RETRY_POLICY.maxAttempts,
    baseDelayMs: options.baseDelayMs ?? DEFAULT_RETRY_POLICY.baseDelayMs,
  };
  const wait = (attempt: number) =>
    sleep(backoffDelayMs({ baseMs: policy.baseDelayMs, capMs: TRANSIENT_BACKOFF.capMs }, attempt));
  const head = (key: string) => withRetries(policy, () => inner.head(key));

  /**
   * After an attempt of unknown outcome: our write's etag when the stored version carries our put
   * id, `false` when our write did not land, `undefined` when that cannot be told (another
   * version replaced the one a compare-and-swap named: ours may have landed before it).
   */
  async function landed(
    key: string,
    putId: string,
    opts: PutOptions,
  ): Promise<{ etag: string } | false | undefined> {
    const now = await head(key);
    if (now?.putId === putId) return { etag: now.etag };
    if (opts.ifMatch === undefined || now?.etag === opts.ifMatch) return false;
    return undefined;
  }

  const unknownOutcome = (e: StoreError, key: string) =>
    new StoreError(e.reason, `${e.message} (the write's outcome is unknown: it may have been applied)`, {
      cause: e,
      key,
      retryable: false,
      outcomeUnknown: true,
      details: e.details,
    });

  async function put(key: string, body: Uint8Array, opts: PutOptions = {}): Promise<{ etag: string }> {
    const putId = opts.putId ?? newPutId();
    let unknown = false;
    for (let attempt = 1; ; attempt++) {
      try {
        return await inner.put(key, body, { ...opts, putId });
      } catch (e) {
        if (!isStoreError(e)) throw e;
        if (e.reason === "PRECONDITION_FAILED") {
          // Our own earlier attempt may be what the condition now refuses.
          if (unknown) {
            const ours = await landed(key, putId, opts).catch((cause: unknown) => {
              throw unknownOutcome(isStoreError(cause) ? cause : e, key);
            });
            if (ours === undefined) throw unknownOutcome(e, key);
            if (ours !== false) return ours;
          }
          throw e;
        }
        if (e.outcomeUnknown) {
          unknown = true;
          options.onUnknownOutcome?.(e);
        }
        if (retryable(e) && attempt < policy.maxAttempts) {
          await wait(attempt);
          continue;
        }
        if (!unknown) throw e;
        let ours: { etag: string } | false | undefined;
        try {
          ours = await landed(key, putId, opts);
        } catch {
          throw unknownOutcome(e, key);
        }
        if (ours === undefined) throw unknownOutcome(e, key);
        if (ours !== false) return ours;
        // Settled: the stored version is not ours, so this write did not take effect.
        throw new StoreError(e.reason, `${e.message} (it did not take effect)`, {
          cause: e,
          key,
          retryable: e.retryable,
          details: e.details,
        });
      }
    }
  }

  async function remove(key: string, opts: { ifMatch?: string } = {}): Promise<void> {
    let unknown = false;
    for (let attempt = 1; ; attempt++) {
      if (unknown && opts.ifMatch === undefined && (await head(key)) === undefined) return;
      try {
        await inner.delete(key, opts);
        return;
      } catch (e) {
        if (!isStoreError(e)) throw e;
        // The version we named is gone: our attempt whose answer was lost removed it.
        if (e.reason === "PRECONDITION_FAILED" && unknown) return;
        if (e.outcomeUnknown) {
          unknown = true;
          options.onUnknownOutcome?.(e);
        }
        if (!retryable(e) || attempt >= policy.maxAttempts) throw unknown ? unknownOutcome(e, key) : e;
        await wait(attempt);
      }
    }
  }

  return {
    name: inner.name,
    get: (key) => withRetries(policy, () => inner.get(key)),
    head,
    put,
    delete: remove,
    list: (prefix, options) => inner.list(prefix, options),
    probe: () => inner.probe(),
  };
}
