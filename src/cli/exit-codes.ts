import { isStateKeeperError } from "../errors.js";

/** The documented exit codes of `statekeeper` (docs/cli.md). Scripts branch on these. */
export const EXIT = {
  ok: 0,
  error: 1,
  usage: 2,
  locked: 3,
  conflict: 4,
  integrity: 5,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The one place an error `code` becomes an exit code. */
const BY_ERROR_CODE: Readonly<Record<string, ExitCode>> = {
  E_INVALID_NAME: EXIT.usage,
  E_INVALID_CONFIG: EXIT.usage,
  E_INVALID_ARGUMENT: EXIT.usage,
  E_LOCKED: EXIT.locked,
  E_FENCED: EXIT.conflict,
  E_CONFLICT: EXIT.conflict,
  E_LOCK_LOST: EXIT.conflict,
  E_VERSION_CONFLICT: EXIT.conflict,
  E_PRECONDITION_FAILED: EXIT.conflict,
  E_ALREADY_EXISTS: EXIT.conflict,
  E_CORRUPT: EXIT.integrity,
  E_DECRYPT: EXIT.integrity,
  E_FORMAT_VERSION: EXIT.integrity,
};

export function exitCodeFor(error: unknown): ExitCode {
  if (!isStateKeeperError(error)) return EXIT.error;
  return BY_ERROR_CODE[error.code] ?? EXIT.error;
}

/** Shown in `--help` and docs/cli.md. */
export const EXIT_CODE_HELP = `Exit codes:
  0  success
  1  error (store unreachable, not found, unsupported store, ...)
  2  usage: bad flags, bad store URL, invalid name or configuration
  3  locked: the lock is held by someone else (lock timeout)
  4  fenced or conflict: someone else advanced the stack, the lock was lost, a copy conflicts
  5  integrity or decrypt failure: corrupt revision, digest mismatch, wrong key`;
