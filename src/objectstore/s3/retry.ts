import { setTimeout as sleep } from "node:timers/promises";
import type { StoreError } from "../types.js";

export interface RetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
}

const MAX_DELAY_MS = 5_000;

/**
 * "Full jitter" backoff: a uniformly random delay up to base·2^(attempt-1), capped, so many
 * clients throttled at once spread out instead of retrying in lockstep.
 * https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/
 */
export function backoffDelayMs(policy: RetryPolicy, attempt: number): number {
  const ceiling = Math.min(MAX_DELAY_MS, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.random() * ceiling;
}

/**
 * Runs `operation` up to `maxAttempts` times while it fails with a retryable StoreError
 * (throttling, network, 5xx); anything else is thrown at once. `toStoreError` maps the
 * driver's errors. The last error is thrown when attempts run out.
 */
export async function withRetries<T>(
  policy: RetryPolicy,
  toStoreError: (e: unknown) => StoreError,
  operation: (attempt: number) => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation(attempt);
    } catch (e) {
      const err = toStoreError(e);
      if (!err.retryable || attempt >= policy.maxAttempts) throw err;
      await sleep(backoffDelayMs(policy, attempt));
    }
  }
}
