/** How a retried step waits between attempts. */
export interface BackoffPolicy {
  /** The first wait is drawn from [0, baseMs]; each later one from a range twice as wide. */
  baseMs: number;
  /** No wait is drawn from a range wider than this. */
  capMs: number;
}

/** Waits between store requests retried after a transient failure (throttling, 5xx, a lost connection). */
export const TRANSIENT_BACKOFF: BackoffPolicy = { baseMs: 50, capMs: 5_000 };
/** Waits between compare-and-swap attempts that lost a race to another writer: short, so a busy object is not starved. */
export const CONTENTION_BACKOFF: BackoffPolicy = { baseMs: 2, capMs: 50 };

/**
 * "Full jitter": a uniformly random wait in [0, min(cap, base·2^(attempt-1))], so many clients
 * failing at once spread out instead of retrying in lockstep.
 * https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/
 */
export function backoffDelayMs(policy: BackoffPolicy, attempt: number): number {
  return Math.random() * Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
}

/** Resolves after `ms`, or at once when `signal` aborts (the caller checks the signal). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
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
