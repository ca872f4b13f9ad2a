import { randomBytes } from "node:crypto";
import { link, lstat, mkdir, readFile, readlink, rename, symlink } from "node:fs/promises";
import { join } from "node:path";
import { threadId } from "node:worker_threads";
import { sleep } from "../../internal/backoff.js";
import { StoreError } from "../types.js";
import { DIR_MODE, errnoCode, isProcessAlive, OWN_START_TIME, unlinkQuietly } from "./fs-ops.js";
import { intoFolder, tempName } from "./temps.js";

/**
 * A per-key mutex shared by every process on this machine: the symlink `<dir>/.<name>.mutex`,
 * whose target is the string `<pid> <process start time> <thread id>-<random token>` (it points
 * at nothing; only the string is read). `symlink()` creates it complete in one step and fails if
 * it exists, so a holder killed at any moment leaves either no mutex or one naming a pid that no
 * longer runs; such a stale mutex is broken by whoever next waits for it (see `breakStale`).
 *
 * A symlink rather than a file written and linked into place: a target this short (under 60
 * bytes) is kept in the inode itself (ext4 fast symlinks; tmpfs, xfs and btrfs store it inline
 * too), so taking the mutex needs no data block, and a lock can be released and an object
 * deleted on a full disk. And no temp file is involved that a failed write could leave behind.
 * A regular-file mutex left by an older version of this driver is still read and broken.
 */

export interface HeldMutex {
  /** Throws unless the mutex still holds our token. Call right before the write it guards. */
  assertStillHeld(): Promise<void>;
}

/** Tokens of the mutexes this process holds: a mutex naming our own pid is stale unless listed here. */
const heldTokens = new Set<string>();
/** In-process waiters queue here instead of polling the file against each other. */
const inProcessQueues = new Map<string, Promise<void>>();

/** A mutex file that cannot be parsed (only possible after a power loss) is stale after this long. */
const UNPARSABLE_GRACE_MS = 2_000;
const MAX_SLEEP_MS = 50;

/** Where a key's file lives (`dir`/`name`), and the store's temp folder (same filesystem). */
export interface KeyPlace {
  tempDir: string;
  dir: string;
  name: string;
}

/** Runs `criticalSection` while holding the mutex of `<dir>/<name>`. Waits at most `timeoutMs`. */
export async function withKeyMutex<T>(
  place: KeyPlace,
  key: string,
  timeoutMs: number,
  criticalSection: (held: HeldMutex) => Promise<T>,
): Promise<T> {
  const mutexPath = join(place.dir, `.${place.name}.mutex`);
  return serialisedInProcess(mutexPath, async () => {
    // 12 random bytes keep the whole target well under ext4's 60-byte inline limit.
    const token = `${threadId}-${randomBytes(12).toString("hex")}`;
    const content = `${process.pid} ${OWN_START_TIME} ${token}`;
    await acquire(place, mutexPath, content, key, timeoutMs);
    heldTokens.add(token);
    try {
      return await criticalSection({
        async assertStillHeld() {
          if ((await readHolder(mutexPath))?.content !== content)
            throw new StoreError("UNAVAILABLE", `file store: lost the mutex of ${key} to a racing breaker`, {
              key,
            });
        },
      });
    } finally {
      heldTokens.delete(token);
      if ((await readHolder(mutexPath))?.content === content) await unlinkQuietly(mutexPath);
    }
  });
}

async function serialisedInProcess<T>(path: string, run: () => Promise<T>): Promise<T> {
  const previous = inProcessQueues.get(path) ?? Promise.resolve();
  let release = () => {};
  const mine = new Promise<void>((resolve) => {
    release = resolve;
  });
  const tail = previous.then(() => mine);
  inProcessQueues.set(path, tail);
  await previous;
  try {
    return await run();
  } finally {
    release();
    if (inProcessQueues.get(path) === tail) inProcessQueues.delete(path);
  }
}

async function acquire(
  place: KeyPlace,
  mutexPath: string,
  content: string,
  key: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let delay = 1;
  for (;;) {
    try {
      await intoFolder(place.dir, () => symlink(content, mutexPath));
      return;
    } catch (e) {
      if (errnoCode(e) !== "EEXIST") throw e;
    }
    const holder = await readHolder(mutexPath);
    if (holder === undefined) continue;
    if (isStale(holder)) {
      await breakStale(place, mutexPath, holder.content);
      continue;
    }
    if (Date.now() > deadline)
      throw new StoreError(
        "UNAVAILABLE",
        `file store: timed out after ${timeoutMs} ms waiting for the mutex of ${key} (held by pid ${holder.content.split(" ")[0]})`,
        { key },
      );
    await sleep(delay * (0.5 + Math.random()));
    delay = Math.min(delay * 1.5, MAX_SLEEP_MS);
  }
}

interface Holder {
  content: string;
  mtimeMs: number;
  /** False for a regular-file mutex of an older version of this driver. */
  isSymlink: boolean;
}

/** The mutex at `path`, or undefined when there is none (or it changed while being read: look again). */
async function readHolder(path: string): Promise<Holder | undefined> {
  try {
    const info = await lstat(path);
    const isSymlink = info.isSymbolicLink();
    const content = isSymlink ? await readlink(path) : await readFile(path, "utf8");
    return { content, mtimeMs: info.mtimeMs, isSymlink };
  } catch (e) {
    // EINVAL: readlink met a regular file that replaced the symlink since the lstat.
    if (errnoCode(e) === "ENOENT" || errnoCode(e) === "EINVAL") return undefined;
    throw e;
  }
}

function isStale(holder: Holder): boolean {
  const [pidText, startTime, token] = holder.content.trim().split(" ");
  const pid = Number(pidText);
  if (!Number.isSafeInteger(pid) || pid <= 0 || token === undefined || startTime === undefined)
    return Date.now() - holder.mtimeMs > UNPARSABLE_GRACE_MS;
  // Our own pid: only this thread knows which of its tokens are live; other worker threads share the pid.
  if (pid === process.pid && startTime === OWN_START_TIME)
    return token.startsWith(`${threadId}-`) && !heldTokens.has(token);
  return !isProcessAlive(pid, startTime);
}

/**
 * Removes a stale mutex without ever removing a live one by mistake in the common races.
 * Several waiters may see the same stale mutex. Each renames whatever is at the mutex path to a
 * private name in the temp folder (a rename moves one entry to one place, so only one breaker
 * gets the stale one), then checks what it moved: the stale holder it inspected → delete it;
 * anything else is a live mutex taken since → put it back with the same target, never over a
 * newer one. The one remaining window (a third process creating a mutex in the instant between
 * our rename and our putting back) is caught by the holder's `assertStillHeld()` before it writes.
 */
async function breakStale(place: KeyPlace, mutexPath: string, inspected: string): Promise<void> {
  const asidePath = join(place.tempDir, tempName("aside"));
  // The temp folder exists once anything was written; a store only ever deleted from may lack it.
  await mkdir(place.tempDir, { recursive: true, mode: DIR_MODE });
  try {
    await rename(mutexPath, asidePath);
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return;
    throw e;
  }
  try {
    const moved = await readHolder(asidePath);
    if (moved === undefined || moved.content === inspected) return;
    // A live mutex taken since: put it back, unless yet another one is there by now (EEXIST).
    // The folder may have been pruned while the mutex was aside; intoFolder recreates it.
    const putBack = moved.isSymlink
      ? () => symlink(moved.content, mutexPath)
      : () => link(asidePath, mutexPath);
    await intoFolder(place.dir, putBack).catch((e: unknown) => {
      if (errnoCode(e) !== "EEXIST") throw e;
    });
  } finally {
    await unlinkQuietly(asidePath);
  }
}
