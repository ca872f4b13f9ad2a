import { performance } from "node:perf_hooks";
import { sleep } from "../internal/backoff.js";

/**
 * The time a lease lock lives by. Leases are measured on `monotonic` (never on wall clocks,
 * which differ between machines); `now` only dates the holder for people to read. Injected so
 * lease tests advance time instead of sleeping through it (see `manualClock` in
 * `statekeeper/testing`).
 */
export interface LeaseClock {
  /** Milliseconds on a clock that never jumps (performance.now()). */
  monotonic(): number;
  /** Wall-clock time, recorded as the holder's `since`. */
  now(): Date;
  /** Resolves after `ms`, or as soon as `signal` aborts (the caller checks it). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Calls `tick` every `ms` until the returned function is called; never keeps the process alive. */
  every(ms: number, tick: () => void): () => void;
}

export const systemClock: LeaseClock = {
  monotonic: () => performance.now(),
  now: () => new Date(),
  sleep,
  every(ms, tick) {
    const timer = setInterval(tick, ms);
    // A forgotten lock must not keep the process alive; its lease then simply expires.
    timer.unref();
    return () => clearInterval(timer);
  },
};
