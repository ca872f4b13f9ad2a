/**
 * Every error statekeeper throws is a `StateKeeperError` with a stable string `code`.
 * Callers branch on `code` (or on the subclasses below), never on message text.
 * Messages never contain key material, passphrases, credentials or sensitive values.
 */

/** Stable error codes. Adding one is an API change; renaming one is a breaking change. */
export type ErrorCode =
  | "E_NO_CURRENT"
  | "E_NOT_FOUND"
  | "E_ALREADY_EXISTS"
  | "E_LOCKED"
  | "E_LOCK_LOST"
  | "E_FENCED"
  | "E_PRECONDITION_FAILED"
  | "E_CONFLICT"
  | "E_VERSION_CONFLICT"
  | "E_DECRYPT"
  | "E_CORRUPT"
  | "E_TOO_LARGE"
  | "E_FORMAT_VERSION"
  | "E_INVALID_SNAPSHOT"
  | "E_INVALID_RECORD"
  | "E_INVALID_NAME"
  | "E_INVALID_CONFIG"
  | "E_INVALID_ARGUMENT"
  | "E_UNSUPPORTED_STORE"
  | "E_AUTH"
  | "E_RATE_LIMITED"
  | "E_UNAVAILABLE"
  | "E_ABORTED"
  | "E_INTERNAL";

/** Brand shared by every copy of this package, so errors are recognised by shape, not class identity. */
const BRAND = Symbol.for("statekeeper.error");

export interface StateKeeperErrorOptions {
  cause?: unknown;
  /** Structured, non-secret details (the offending name, a rev, a key id...). */
  details?: Record<string, unknown>;
}

export class StateKeeperError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, options: StateKeeperErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "StateKeeperError";
    this.code = code;
    this.details = Object.freeze({ ...(options.details ?? {}) });
    Object.defineProperty(this, BRAND, { value: true });
  }
}

/** True for any statekeeper error, including ones thrown by another copy of the package. */
export function isStateKeeperError(e: unknown): e is StateKeeperError {
  return (
    typeof e === "object" &&
    e !== null &&
    (e as Record<symbol, unknown>)[BRAND] === true &&
    typeof (e as { code?: unknown }).code === "string"
  );
}

/** True when `e` is a statekeeper error with one of the given codes. */
export function hasErrorCode(e: unknown, ...codes: ErrorCode[]): e is StateKeeperError {
  return isStateKeeperError(e) && codes.includes(e.code);
}

/** Who holds a lock, as recorded in the lock object. Never contains secrets. */
export interface LockHolder {
  id: string;
  who: string;
  host: string;
  pid: number;
  operation: string;
  created: string;
}

/** The lock is held by someone else (a lock wait timed out or was aborted, or a non-blocking lock failed). */
export class LockedError extends StateKeeperError {
  readonly holder: LockHolder | undefined;
  constructor(message: string, holder: LockHolder | undefined, options: StateKeeperErrorOptions = {}) {
    super("E_LOCKED", message, { ...options, details: { ...(options.details ?? {}), holder } });
    this.name = "LockedError";
    this.holder = holder;
  }
}

/** A commit was refused because someone else advanced the stack since this writer last looked. */
export class FencedError extends StateKeeperError {
  constructor(message: string, options: StateKeeperErrorOptions = {}) {
    super("E_FENCED", message, options);
    this.name = "FencedError";
  }
}

/** The lock handle lost its lease (renewal failed or the lock was taken over); it can no longer commit. */
export class LockLostError extends StateKeeperError {
  constructor(message: string, options: StateKeeperErrorOptions = {}) {
    super("E_LOCK_LOST", message, options);
    this.name = "LockLostError";
  }
}

/** A name (factory, stack, prefix, resource id, store key) is not acceptable. Thrown before any I/O. */
export class InvalidNameError extends StateKeeperError {
  constructor(what: string, name: string, reason: string) {
    super("E_INVALID_NAME", `invalid ${what} ${JSON.stringify(truncateForMessage(name))}: ${reason}`, {
      details: { what, name: truncateForMessage(name) },
    });
    this.name = "InvalidNameError";
  }
}

/** Keep messages bounded when the offending value is huge. */
export function truncateForMessage(s: string, max = 120): string {
  return s.length <= max ? s : `${s.slice(0, max)}…(${s.length} chars)`;
}
