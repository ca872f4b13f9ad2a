import { randomBytes } from "node:crypto";
import { closeSync, fsync, mkdirSync, openSync, readFileSync, unlinkSync } from "node:fs";
import { rmdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { StoreError } from "../types.js";

/**
 * The driver's own names, never keys: `.<name>.mutex` locks beside objects, the root's
 * `.statekeeper.tmp` temp folder, and `.<name>.<pid>.<rand>.tmp` temps (beside objects in older
 * versions of this driver, so such leftovers stay hidden).
 */
const INTERNAL_NAME = /^\..*\.(tmp|mutex)$/;

export const FILE_MODE = 0o600;
export const DIR_MODE = 0o700;

/** True for a directory entry that is the driver's own bookkeeping, never an object. */
export function isInternalName(name: string): boolean {
  return INTERNAL_NAME.test(name);
}

export function errnoCode(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

const AUTH_CODES = new Set(["EACCES", "EPERM"]);
const TRANSIENT_CODES = new Set([
  "ENOSPC",
  "EIO",
  "EMFILE",
  "ENFILE",
  "EAGAIN",
  "EBUSY",
  "EDQUOT",
  "ETIMEDOUT",
]);
const SHAPE_CODES = new Set(["ENOTDIR", "EISDIR", "ENAMETOOLONG", "ELOOP"]);
const CROSS_DEVICE_HINT =
  "the key's folder is on another filesystem than the store root's temp folder: a root whose subfolders are mount points of other filesystems is not supported";
const SHAPE_HINT = "a key cannot be both an object and a folder of other keys on a file store";
/** What a code means to someone reading the message, and what to do about it where that is clear. */
const DESCRIPTIONS: Record<string, string> = {
  ENOSPC: "no space left on device: free space on the store's filesystem",
  EDQUOT: "disk quota exceeded: free space or raise the quota",
  EROFS: "read-only file system",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EIO: "I/O error",
  EMFILE: "too many open files in this process",
  ENFILE: "too many open files on this system",
  EXDEV: CROSS_DEVICE_HINT,
};

/** Maps a filesystem error to a StoreError by its errno code, keeping the original as `cause`. */
export function storeErrorFromFs(e: unknown, operation: string, key: string): StoreError {
  const code = errnoCode(e) ?? "unknown error";
  const hint = SHAPE_CODES.has(code) ? SHAPE_HINT : DESCRIPTIONS[code];
  const message = `file store: ${operation} ${key}: ${code}${hint === undefined ? "" : ` (${hint})`}`;
  if (AUTH_CODES.has(code)) return new StoreError("AUTH_FAILED", message, { key, cause: e });
  if (code === "EXDEV") return new StoreError("UNSUPPORTED", message, { key, cause: e });
  if (TRANSIENT_CODES.has(code)) return new StoreError("UNAVAILABLE", message, { key, cause: e });
  if (SHAPE_CODES.has(code)) return new StoreError("INVALID_KEY", message, { key, cause: e });
  return new StoreError("UNAVAILABLE", message, { key, cause: e, retryable: false });
}

export function randomSuffix(): string {
  return randomBytes(6).toString("hex");
}

/**
 * The file store's writes make the calls that only touch metadata or the page cache (open, write,
 * futimes, fstat, link, rename, unlink, close) synchronously, and only the ones that wait for the
 * disk (fsync) on libuv's thread pool: each trip through the pool costs more than those calls do
 * (docs/file-store.md, "Synchronous calls").
 */
export const fsyncFd: (fd: number) => Promise<void> = promisify(fsync);

/** Closes `fd`, ignoring errors: Linux frees the descriptor even when close reports one. */
export function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Nothing to do: the descriptor is gone either way.
  }
}

/**
 * Creates `dir/name` exclusively and returns its descriptor, creating missing folders. Retries
 * when a concurrent delete prunes a folder between our mkdir and our create: pruning only removes
 * empty folders, and once our file exists the folder is no longer empty.
 */
export function createExclusive(dir: string, name: string): number {
  for (let attempt = 0; ; attempt++) {
    try {
      return openSync(join(dir, name), "wx", FILE_MODE);
    } catch (e) {
      if (errnoCode(e) !== "ENOENT" || attempt >= 20) throw e;
      mkdirSync(dir, { recursive: true, mode: DIR_MODE });
    }
  }
}

let dirSyncs = 0;

/** How many folder fsyncs this process has made (`fsyncDir`): what tests count to see writes batched. */
export function dirSyncCount(): number {
  return dirSyncs;
}

/** Makes renames and links inside `dir` durable. */
export async function fsyncDir(dir: string): Promise<void> {
  let fd: number | undefined;
  try {
    fd = openSync(dir, "r");
    dirSyncs++;
    await fsyncFd(fd);
  } catch (e) {
    // Some filesystems cannot fsync a directory; the rename is still atomic, only less durable.
    // ENOENT: a concurrent delete emptied and pruned the folder, so there is nothing left to persist.
    if (!["EINVAL", "EISDIR", "ENOTSUP", "EBADF", "ENOENT"].includes(errnoCode(e) ?? "")) throw e;
  } finally {
    if (fd !== undefined) closeQuietly(fd);
  }
}

/** Removes `path` if it is there. */
export async function unlinkQuietly(path: string): Promise<void> {
  try {
    unlinkSync(path);
  } catch (e) {
    if (errnoCode(e) !== "ENOENT") throw e;
  }
}

/** This process's start time from /proc (Linux), so a recycled pid is not mistaken for a live holder. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may contain spaces and parentheses: parse after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (fields[0] === "Z") return "zombie";
    return fields[19];
  } catch {
    return undefined;
  }
}

export const OWN_START_TIME = processStartTime(process.pid) ?? "-";

/**
 * Whether `pid` still runs. A zombie (killed, not yet reaped) counts as dead; with a recorded
 * start time, a recycled pid counts as dead too. EPERM means alive under another user.
 */
export function isProcessAlive(pid: number, startTime?: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return errnoCode(e) === "EPERM";
  }
  const actual = processStartTime(pid);
  if (actual === "zombie") return false;
  if (startTime !== undefined && startTime !== "-" && actual !== undefined && actual !== startTime)
    return false;
  return true;
}

/** Removes `dir` and its parents while they are empty, stopping at `root`. Races are harmless. */
export async function pruneEmptyDirs(dir: string, root: string): Promise<void> {
  let current = dir;
  while (current !== root && current.startsWith(`${root}/`)) {
    try {
      await rmdir(current);
    } catch {
      return;
    }
    current = dirname(current);
  }
}
