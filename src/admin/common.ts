import type { Backend, Lock, LockOptions } from "../backend/index.js";
import { StateKeeperError } from "../errors.js";

/** One step of an admin workflow done: `done` of `total` in `phase` (0 of N when a phase starts). */
export interface AdminProgress<Phase extends string = string> {
  phase: Phase;
  done: number;
  total: number;
  /** The revision the step was about, when it was about one. */
  rev?: string;
  /** The stack (`factory/stack`) the step was about, when listing stacks. */
  stack?: string;
}

/** What every admin function takes besides its own options. */
export interface AdminOptions<Phase extends string = string> {
  /** Called at the start of each phase (`done: 0`) and after each step. */
  onProgress?: (event: AdminProgress<Phase>) => void;
  /**
   * Checked between steps: once it aborts, no further step starts and the call rejects with
   * `E_ABORTED` (its `cause` is the signal's reason). A step in flight is finished, never cut in
   * half, so what was written is whole.
   */
  signal?: AbortSignal;
}

/** Options of the admin functions that take the stack's lock (migrate: the target's). */
export interface LockedAdminOptions<Phase extends string = string> extends AdminOptions<Phase> {
  /** How to wait for the lock: `timeoutMs`, `onWait`, `leaseMs`, `pollMs` (see `LockOptions`). */
  lock?: Omit<LockOptions, "operation" | "signal">;
  /** Told when the lock could not be released cleanly afterwards (the work itself is done). */
  onWarning?: (message: string) => void;
}

/** The `E_ABORTED` error of an admin call whose signal aborted. */
export function abortedError(
  what: string,
  signal: AbortSignal,
  details?: Record<string, unknown>,
): StateKeeperError {
  return new StateKeeperError("E_ABORTED", `${what} was aborted by the caller's signal`, {
    cause: signal.reason,
    ...(details === undefined ? {} : { details }),
  });
}

/**
 * Between two steps: stops when the caller's signal aborted (`E_ABORTED`) or the lock was lost
 * (the lock's own error, `E_LOCK_LOST`).
 */
export function checkpoint(
  what: string,
  signal: AbortSignal | undefined,
  lock?: Lock,
  details?: () => Record<string, unknown>,
): void {
  if (signal?.aborted === true) throw abortedError(what, signal, details?.());
  if (lock?.lost === true) throw lock.signal.reason;
}

/** Calls `onProgress` with one event; `rev`/`stack` only when given. */
export function progressOf<Phase extends string>(
  onProgress: ((event: AdminProgress<Phase>) => void) | undefined,
): (phase: Phase, done: number, total: number, about?: { rev?: string; stack?: string }) => void {
  return (phase, done, total, about = {}) =>
    onProgress?.({
      phase,
      done,
      total,
      ...(about.rev === undefined ? {} : { rev: about.rev }),
      ...(about.stack === undefined ? {} : { stack: about.stack }),
    });
}

/**
 * Runs `work` under the stack's lock and always releases it; a release that fails, or finds the
 * lock no longer ours, is reported through `onWarning` (it expires with its lease). Waiting for
 * the lock stops when `signal` aborts (`E_ABORTED`).
 */
export async function runLocked<T>(
  backend: Backend,
  operation: string,
  options: Pick<LockedAdminOptions, "lock" | "signal" | "onWarning">,
  work: (lock: Lock) => Promise<T>,
): Promise<T> {
  const { signal } = options;
  let lock: Lock;
  try {
    lock = await backend.lock({ ...options.lock, operation, ...(signal === undefined ? {} : { signal }) });
  } catch (e) {
    if (signal?.aborted === true) throw abortedError(`${operation} of ${nameOf(backend)}`, signal);
    throw e;
  }
  try {
    return await work(lock);
  } finally {
    await release(backend, lock, options.onWarning);
  }
}

/** Unlocks, and says what really happened when the lock could not be released cleanly. */
async function release(backend: Backend, lock: Lock, onWarning: ((message: string) => void) | undefined) {
  let released: boolean;
  try {
    released = await lock.unlock();
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    onWarning?.(
      `could not release the lock on ${nameOf(backend)}: ${why}; ` +
        "it expires after its lease, or remove it now with 'statekeeper lock force-unlock'",
    );
    return;
  }
  if (!released)
    onWarning?.(
      lock.lost
        ? `the lock was no longer ours when releasing it: ${lostReason(lock)}`
        : "the lock was no longer ours when releasing it (taken over or force-unlocked)",
    );
}

function lostReason(lock: Lock): string {
  const reason: unknown = lock.signal.reason;
  return reason instanceof Error ? reason.message : "taken over or force-unlocked";
}

export function nameOf(backend: Backend): string {
  return `${backend.factory}/${backend.stack}`;
}
