import type { LeaseClock } from "../lock/clock.js";

/** A `LeaseClock` that moves only when told to, so lease tests run in milliseconds. */
export interface ManualClock extends LeaseClock {
  /**
   * Moves time forward by `ms`, waking every sleeper and firing every repeating timer that falls
   * due on the way, in time order, and letting the work they start run before going further.
   */
  advance(ms: number): Promise<void>;
}

interface Sleeper {
  at: number;
  wake: () => void;
}

interface Timer {
  every: number;
  next: number;
  tick: () => void;
  stopped: boolean;
}

/** Lets promise chains started by a wake-up or a tick run (they may sleep again or hit the store). */
const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

/** A manual clock starting at `start` (wall clock) and monotonic time 0. */
export function manualClock(start = new Date("2026-01-01T00:00:00Z")): ManualClock {
  let now = 0;
  const sleepers = new Set<Sleeper>();
  const timers = new Set<Timer>();
  const nextDue = (limit: number): number | undefined => {
    let due: number | undefined;
    for (const s of sleepers) if (s.at <= limit && (due === undefined || s.at < due)) due = s.at;
    for (const t of timers)
      if (!t.stopped && t.next <= limit && (due === undefined || t.next < due)) due = t.next;
    return due;
  };
  return {
    monotonic: () => now,
    now: () => new Date(start.getTime() + now),
    sleep(ms, signal) {
      return new Promise<void>((resolve) => {
        if (signal?.aborted) return resolve();
        const sleeper: Sleeper = {
          at: now + ms,
          wake: () => {
            sleepers.delete(sleeper);
            resolve();
          },
        };
        sleepers.add(sleeper);
        signal?.addEventListener("abort", () => sleeper.wake(), { once: true });
      });
    },
    every(ms, tick) {
      const timer: Timer = { every: ms, next: now + ms, tick, stopped: false };
      timers.add(timer);
      return () => {
        timer.stopped = true;
        timers.delete(timer);
      };
    },
    async advance(ms) {
      const target = now + ms;
      await settle();
      for (let due = nextDue(target); due !== undefined; due = nextDue(target)) {
        now = due;
        for (const s of [...sleepers]) if (s.at <= now) s.wake();
        for (const t of [...timers])
          if (!t.stopped && t.next <= now) {
            t.next += t.every;
            t.tick();
          }
        await settle();
      }
      now = target;
      await settle();
    },
  };
}
