import type { Command } from "commander";
import { type Backend, createBackend, describeHolder, type Lock, validateName } from "../backend/index.js";
import type { Encrypter } from "../crypto/types.js";
import { StateKeeperError } from "../errors.js";
import { openStore } from "../objectstore/schemes.js";
import type { ExitCode } from "./exit-codes.js";
import { defaultEncrypter, encrypterFromSpecs, type KeySpec } from "./keys.js";
import { parseDuration, printable, warn } from "./output.js";

/** The options every command sees (commander's `optsWithGlobals`). */
export interface GlobalOptions {
  store: string;
  factory?: string;
  stack?: string;
  kmsEndpoint?: string;
  kmsRegion?: string;
  lockTimeout?: string;
}

/**
 * Per-run state shared by the commands: the key options in the order they were given (commander
 * keeps each option's values apart, but the first key given, of any kind, is the primary).
 */
export interface CliContext {
  readonly keys: KeySpec[];
  readonly targetKeys: KeySpec[];
  /** What the process exits with when no error is thrown (verify with problems sets 5). */
  exitCode: ExitCode;
}

export function globalsOf(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>();
}

/** The encrypter the key options name, or the default one (STATEKEEPER_KEY, else unencrypted). */
export function sourceEncrypter(ctx: CliContext, g: GlobalOptions): Encrypter {
  return explicitEncrypter(ctx, g) ?? defaultEncrypter();
}

/** Only what the key options name: records are sealed only when a key is asked for. */
export function explicitEncrypter(ctx: CliContext, g: GlobalOptions): Encrypter | undefined {
  return encrypterFromSpecs(ctx.keys, { endpoint: g.kmsEndpoint, region: g.kmsRegion });
}

function required(value: string | undefined, flag: string, envVar: string): string {
  if (value === undefined || value === "")
    throw new StateKeeperError(
      "E_INVALID_ARGUMENT",
      `this command needs ${flag} NAME (or the ${envVar} environment variable)`,
    );
  return value;
}

/** The stack the global options name, on the store they name. */
export async function openStackBackend(
  g: GlobalOptions,
  encrypter: Encrypter,
  url: string = g.store,
): Promise<Backend> {
  const factory = required(g.factory, "--factory", "STATEKEEPER_FACTORY");
  const stack = required(g.stack, "--stack", "STATEKEEPER_STACK");
  // Names are checked before the store is opened: an invalid name is a usage error with no I/O.
  validateName("factory", factory);
  validateName("stack", stack);
  return createBackend(await openStore(url), { factory, stack, encrypter });
}

export function lockTimeoutMs(g: GlobalOptions): number {
  return parseDuration("--lock-timeout", g.lockTimeout ?? "30s");
}

/**
 * Runs `work` under the stack's lock and always releases it. Waiting is announced on stderr
 * (who holds it), so an operator is never left staring at a silent terminal.
 */
export async function withStackLock<T>(
  backend: Backend,
  g: GlobalOptions,
  operation: string,
  work: (lock: Lock) => Promise<T>,
): Promise<T> {
  const timeoutMs = lockTimeoutMs(g);
  const lock = await backend.lock({
    operation,
    timeoutMs,
    onWait: (holder) =>
      warn(`waiting up to ${timeoutMs / 1000}s for the lock held by ${printable(describeHolder(holder))}`),
  });
  try {
    return await work(lock);
  } finally {
    await release(backend, lock);
  }
}

/** Unlocks, and says what really happened when the lock could not be released cleanly. */
async function release(backend: Backend, lock: Lock): Promise<void> {
  let released: boolean;
  try {
    released = await lock.unlock();
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    warn(
      `could not release the lock on ${backend.factory}/${backend.stack}: ${printable(why)}; ` +
        "it expires after its lease, or remove it now with 'statekeeper lock force-unlock'",
    );
    return;
  }
  if (!released)
    warn(
      lock.lost
        ? `the lock was no longer ours when releasing it: ${printable(lostReason(lock))}`
        : "the lock was no longer ours when releasing it (taken over or force-unlocked)",
    );
}

function lostReason(lock: Lock): string {
  const reason: unknown = lock.signal.reason;
  return reason instanceof Error ? reason.message : "taken over or force-unlocked";
}
