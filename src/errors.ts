/**
 * Every error statekeeper throws is a `StateKeeperError` with a stable string `code`.
 * Callers branch on `code` (or on the subclasses below), never on message text.
 * Messages never contain key material, passphrases, credentials or sensitive values.
 */

/** What kind of failure a code is: callers (and the CLI's exit codes) branch on the kind. */
export type ErrorKind =
  /** The caller asked for something invalid: a bad name, option, argument, input or store. Fix the call. */
  | "invalid"
  /** What was asked for does not exist. */
  | "not-found"
  /** Someone else holds the lock. Wait, or break a dead holder's lock. */
  | "locked"
  /** Someone else changed the state first, or this writer's lock was lost: re-read, then decide. */
  | "conflict"
  /** Stored data cannot be trusted or opened: corrupt, tampered with, or sealed with another key. */
  | "integrity"
  /** The store (or KMS) did not answer in time, throttled, or the call was aborted: try again later. */
  | "unavailable"
  /** Credentials are missing or refused. */
  | "auth"
  /** A bug in statekeeper. */
  | "internal";

/**
 * Every error code, its kind, and what it means: the one table. Adding a code is an API change;
 * renaming one is a breaking change.
 */
export const ERROR_CODES = {
  E_INVALID_NAME: { kind: "invalid", meaning: "a factory, stack, prefix, id or store key is not acceptable" },
  E_INVALID_CONFIG: { kind: "invalid", meaning: "an option, store URL or key configuration is wrong" },
  E_INVALID_ARGUMENT: { kind: "invalid", meaning: "an argument of the call is wrong" },
  E_INVALID_SNAPSHOT: { kind: "invalid", meaning: "a snapshot given to write does not validate" },
  E_INVALID_RECORD: { kind: "invalid", meaning: "a record given to save does not validate" },
  E_TOO_LARGE: { kind: "invalid", meaning: "the input is over the size limit every reader enforces" },
  E_UNSUPPORTED_STORE: {
    kind: "invalid",
    meaning: "the store does not honour the conditional requests statekeeper needs, or lacks an operation",
  },
  E_NO_CURRENT: { kind: "not-found", meaning: "the stack has no current revision" },
  E_NOT_FOUND: { kind: "not-found", meaning: "the revision, record, instance or object does not exist" },
  E_LOCKED: { kind: "locked", meaning: "the lock is held by someone else" },
  E_FENCED: { kind: "conflict", meaning: "someone else advanced the stack since this writer last saw it" },
  E_LOCK_LOST: { kind: "conflict", meaning: "this writer's lock lapsed, was taken over or force-unlocked" },
  E_CONFLICT: { kind: "conflict", meaning: "another writer won a race for the same object" },
  E_CONTENDED: { kind: "conflict", meaning: "gave up after other writers won every one of many attempts" },
  E_PRECONDITION_FAILED: { kind: "conflict", meaning: "a conditional store request found another version" },
  E_VERSION_CONFLICT: { kind: "conflict", meaning: "the stored version is not the expected one" },
  E_ALREADY_EXISTS: { kind: "conflict", meaning: "it exists already, with other content" },
  E_CORRUPT: { kind: "integrity", meaning: "stored data is malformed, truncated or fails its digest" },
  E_DECRYPT: { kind: "integrity", meaning: "a sealed file cannot be opened with the keys given" },
  E_FORMAT_VERSION: { kind: "integrity", meaning: "stored data has a format version this build cannot read" },
  E_UNAVAILABLE: { kind: "unavailable", meaning: "the store or KMS failed, or did not answer in time" },
  E_RATE_LIMITED: { kind: "unavailable", meaning: "the store throttled the requests" },
  E_ABORTED: { kind: "unavailable", meaning: "the caller's signal aborted the operation" },
  E_AUTH: { kind: "auth", meaning: "credentials are missing, invalid or not allowed" },
  E_INTERNAL: { kind: "internal", meaning: "an unexpected failure inside statekeeper" },
} as const satisfies Record<string, { kind: ErrorKind; meaning: string }>;

/** Stable error codes (see `ERROR_CODES`). */
export type ErrorCode = keyof typeof ERROR_CODES;

/** The kind of a code (`"internal"` for a code this build does not know, from another version). */
export function kindOf(code: string): ErrorKind {
  return Object.hasOwn(ERROR_CODES, code) ? ERROR_CODES[code as ErrorCode].kind : "internal";
}

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

/** The kind of `e`: its code's kind for a statekeeper error, `"internal"` for anything else. */
export function errorKind(e: unknown): ErrorKind {
  return isStateKeeperError(e) ? kindOf(e.code) : "internal";
}

/** True when `e` is a statekeeper error with one of the given codes. */
export function hasErrorCode(e: unknown, ...codes: ErrorCode[]): e is StateKeeperError {
  return isStateKeeperError(e) && codes.includes(e.code);
}

/** Who holds a lock, as recorded in the lock object. Never contains secrets. */
export interface LockHolder {
  /** Random id of this acquisition. */
  id: string;
  user: string;
  host: string;
  pid: number;
  /** What the holder said it is doing ("apply", "push", …). */
  operation: string;
  /** When the lock was taken (the holder's wall clock, ISO 8601). */
  since: string;
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
