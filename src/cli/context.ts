import type { Command } from "commander";
import { type LockedAdminOptions, runLocked } from "../admin/common.js";
import {
  type Backend,
  createBackend,
  describeHolder,
  type Lock,
  validateFactoryName,
  validateName,
} from "../backend/index.js";
import type { Encrypter } from "../crypto/types.js";
import { StateKeeperError } from "../errors.js";
import { openStore } from "../objectstore/schemes.js";
import {
  openUnobinStack,
  unobinEnvKeyEncrypter,
  unobinNoopEncrypter,
  unobinReadOnlyBackend,
} from "../unobin/index.js";
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
  /**
   * `unobin`: read a stack unobin's localstate/s3state wrote, in place and read-only.
   * `spaces`: records commands use DigitalOcean's Spaces state store's keys.
   */
  layout?: "statekeeper" | "unobin" | "spaces";
  /** With `--layout unobin`: unobin's env-key encrypter, key in this env var (default: its noop). */
  unobinKeyEnv?: string;
  /** The head a new stack gets (`BackendOptions.head`). */
  head?: "pointer" | "log";
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

/**
 * The head the user named for new stacks, with where (`--head`, or STATEKEEPER_HEAD); undefined
 * when it is the default. Commands that copy a stack (import, migrate) decide the target's head
 * themselves unless it was named.
 */
export function namedHead(cmd: Command): { head: "pointer" | "log"; named: string } | undefined {
  let root = cmd;
  while (root.parent !== null) root = root.parent;
  const source = root.getOptionValueSource("head");
  if (source !== "cli" && source !== "env") return undefined;
  const head = root.getOptionValue("head") as "pointer" | "log";
  return { head, named: source === "cli" ? `--head ${head}` : `STATEKEEPER_HEAD=${head}` };
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

/**
 * The stack the global options name, on the store they name. Without an encrypter the backend
 * reads and manages metadata only (pointer, revisions, lock), and opens no snapshot.
 */
export async function openStackBackend(
  g: GlobalOptions,
  encrypter: Encrypter | undefined,
  url: string = g.store,
): Promise<Backend> {
  const { factory, stack } = stackNames(g);
  refuseUnobinLayout(g);
  return createBackend(await openStore(url), {
    factory,
    stack,
    ...(encrypter === undefined ? {} : { encrypter }),
    ...(g.head === undefined ? {} : { head: g.head }),
  });
}

/**
 * Commands other than history, show, diff and pull do not work on `--layout unobin`, and only
 * `records` commands on `--layout spaces`: refused before any I/O.
 */
export function refuseUnobinLayout(g: GlobalOptions): void {
  if (g.layout === "spaces")
    throw new StateKeeperError(
      "E_INVALID_ARGUMENT",
      "--layout spaces is for 'statekeeper records …' (DigitalOcean's Spaces state store's record keys); stacks have no Spaces layout",
    );
  if (g.layout === "unobin")
    throw new StateKeeperError(
      "E_INVALID_ARGUMENT",
      "--layout unobin reads an original unobin store in place, read-only: history, show, diff and pull work on it; " +
        "bring it into statekeeper with 'statekeeper import --from <url>' to do anything else",
    );
}

function stackNames(g: GlobalOptions): { factory: string; stack: string } {
  const factory = required(g.factory, "--factory", "STATEKEEPER_FACTORY");
  const stack = required(g.stack, "--stack", "STATEKEEPER_STACK");
  // Names are checked before the store is opened: an invalid name is a usage error with no I/O.
  validateFactoryName(factory);
  validateName("stack", stack);
  return { factory, stack };
}

/**
 * The stack to read (history, show, diff, pull): a statekeeper backend with the key options'
 * encrypter, or with `--layout unobin` a read-only view of what unobin's localstate or s3state
 * wrote there, opened with `--unobin-key-env` (unobin's env-key) or unobin's noop encrypter.
 */
export async function openReadableBackend(ctx: CliContext, g: GlobalOptions): Promise<Backend> {
  if (g.layout !== "unobin") return openStackBackend(g, sourceEncrypter(ctx, g));
  const { factory, stack } = stackNames(g);
  const encrypter =
    g.unobinKeyEnv === undefined ? unobinNoopEncrypter() : unobinEnvKeyEncrypter({ envVar: g.unobinKeyEnv });
  return unobinReadOnlyBackend(openUnobinStack(await openStore(g.store), { factory, stack, encrypter }));
}

export function lockTimeoutMs(g: GlobalOptions): number {
  return parseDuration("--lock-timeout", g.lockTimeout ?? "30s");
}

/**
 * How an admin workflow waits for the stack's lock, as every CLI writer does: up to
 * `--lock-timeout`, announcing who holds it on stderr, so an operator is never left staring at
 * a silent terminal; a lock that could not be released cleanly is reported on stderr too.
 */
export function lockOptionsOf(g: GlobalOptions): Pick<LockedAdminOptions, "lock" | "onWarning"> {
  const timeoutMs = lockTimeoutMs(g);
  return {
    lock: {
      timeoutMs,
      onWait: (holder) =>
        warn(`waiting up to ${timeoutMs / 1000}s for the lock held by ${printable(describeHolder(holder))}`),
    },
    onWarning: (message) => warn(printable(message)),
  };
}

/** Runs `work` under the stack's lock and always releases it (see `lockOptionsOf`). */
export function withStackLock<T>(
  backend: Backend,
  g: GlobalOptions,
  operation: string,
  work: (lock: Lock) => Promise<T>,
): Promise<T> {
  return runLocked(backend, operation, lockOptionsOf(g), work);
}
