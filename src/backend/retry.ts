import { isStoreError } from "../objectstore/types.js";

/** Attempts for one backend step when the store answers with a transient (retryable) error. */
export const BACKEND_ATTEMPTS = 4;

/**
 * Runs `step` again on transient store errors (rate limits, unavailability), with jittered backoff.
 * Drivers retry on their own; this outer loop exists for writes whose response was lost: the
 * retried conditional write then fails its precondition, and the caller resolves that by reading
 * back whether its own bytes landed.
 */
export async function retryTransient<T>(step: () => Promise<T>, attempts = BACKEND_ATTEMPTS): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (e) {
      if (attempt >= attempts || !isStoreError(e) || !e.retryable) throw e;
      await new Promise((r) => setTimeout(r, Math.random() * 50 * 2 ** attempt));
    }
  }
}
