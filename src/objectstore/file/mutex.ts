import { randomBytes } from "node:crypto";
import { link, readFile, rename, stat } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { threadId } from "node:worker_threads";
import { StoreError } from "../types.js";
import { createExclusive, errnoCode, isProcessAlive, OWN_START_TIME, unlinkQuietly } from "./fs-ops.js";
import { intoFolder, tempName } from "./temps.js";

/**
 * A per-key mutex shared by every process on this machine: the file `<dir>/.<name>.mutex`, holding
 * `<pid> <process start time> <thread id>-<random token>`. It is created complete in one step
 * (written to a temp in the store's temp folder, then `link()`ed into place, which fails if it
 * exists), so a holder killed at any moment leaves either no mutex or one naming a pid that no
 * longer runs. Such a stale mutex is broken by whoever next waits for it; see `breakStale` for
 * how racing breakers stay safe.
 */

export interface HeldMutex {
  /** Throws unless the mutex file still holds our token. Call right before the write it guards. */
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
    const token = `${threadId}-${randomBytes(16).toString("hex")}`;
    const content = `${process.pid} ${OWN_START_TIME} ${token}\n`;
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
  const temp = tempName("mutex");
  const tempPath = join(place.tempDir, temp);
  const handle = await createExclusive(place.tempDir, temp);
  try {
    await handle.writeFile(content);
  } finally {
    await handle.close();
  }
  const deadline = Date.now() + timeoutMs;
  let delay = 1;
  try {
    for (;;) {
      try {
        await intoFolder(place.dir, () => link(tempPath, mutexPath));
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
  } finally {
    await unlinkQuietly(tempPath);
  }
}

interface Holder {
  content: string;
  mtimeMs: number;
}

async function readHolder(mutexPath: string): Promise<Holder | undefined> {
  try {
    const [content, info] = await Promise.all([readFile(mutexPath, "utf8"), stat(mutexPath)]);
    return { content, mtimeMs: info.mtimeMs };
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return undefined;
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
 * Several waiters may see the same stale file. Each renames whatever is at the mutex path to a
 * private name (a rename moves one file to one place, so only one breaker gets the stale one),
 * then checks what it moved: the stale content it inspected → delete it; anything else is a live
 * mutex taken since → link it back. The one remaining window (a third process creating a mutex
 * in the instant between our rename and our link back) is caught by the holder's
 * `assertStillHeld()` before it writes.
 */
async function breakStale(place: KeyPlace, mutexPath: string, inspected: string): Promise<void> {
  const asidePath = join(place.tempDir, tempName("aside"));
  try {
    await rename(mutexPath, asidePath);
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return;
    throw e;
  }
  try {
    if ((await readFile(asidePath, "utf8")) === inspected) return;
    // The folder may have been pruned while the mutex was aside: put the live one back all the same.
    await intoFolder(place.dir, () => link(asidePath, mutexPath)).catch((e: unknown) => {
      if (errnoCode(e) !== "EEXIST") throw e;
    });
  } finally {
    await unlinkQuietly(asidePath);
  }
}
