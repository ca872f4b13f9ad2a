import { type ErrorKind, errorKind } from "../errors.js";

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

/** The one place an error becomes an exit code: by its kind (`ERROR_CODES` in src/errors.ts). */
const BY_KIND: Readonly<Record<ErrorKind, ExitCode>> = {
  invalid: EXIT.usage,
  "not-found": EXIT.error,
  locked: EXIT.locked,
  conflict: EXIT.conflict,
  integrity: EXIT.integrity,
  unavailable: EXIT.error,
  auth: EXIT.error,
  internal: EXIT.error,
};

export function exitCodeFor(error: unknown): ExitCode {
  return BY_KIND[errorKind(error)];
}

/** Shown in `--help` and docs/cli.md. */
export const EXIT_CODE_HELP = `Exit codes:
  0  success
  1  error: not found, store or KMS unreachable, access denied
  2  usage: bad flags, bad store URL, invalid name, input or configuration, unsupported store
  3  locked: the lock is held by someone else (lock timeout)
  4  fenced or conflict: someone else advanced the stack, the lock was lost, a copy conflicts
  5  integrity or decrypt failure: corrupt revision, digest mismatch, wrong key`;
