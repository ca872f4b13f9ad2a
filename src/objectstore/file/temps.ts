import { type BigIntStats, fstatSync, futimesSync, readdirSync, write, writeSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  closeQuietly,
  createExclusive,
  DIR_MODE,
  errnoCode,
  fsyncFd,
  isProcessAlive,
  randomSuffix,
  unlinkQuietly,
} from "./fs-ops.js";

/**
 * Every temp file of a store lives in this one folder under its root, never beside the objects:
 * the sweep for dead writers' leftovers then reads only this small folder, however many objects a
 * folder of keys holds. `isInternalName` reserves the name, so no key can take it and `list` never
 * walks into it.
 */
export const TEMP_DIR_NAME = ".statekeeper.tmp";

/**
 * What a temp file is for: an object being written, or a stale mutex being broken. (Older
 * versions also made `mutex` temps; the sweep removes any kind a dead process left.)
 */
export type TempKind = "write" | "aside";

const TEMP_NAME = /^\.[a-z]+\.(\d+)\.[0-9a-f]+\.tmp$/;

/** A fresh temp file name carrying our pid, so a dead writer's leftovers can be recognised. */
export function tempName(kind: TempKind): string {
  return `.${kind}.${process.pid}.${randomSuffix()}.tmp`;
}

/**
 * Bodies up to this size are written to the page cache synchronously (a copy of at most a few
 * hundred microseconds); larger ones on the thread pool, so a 100 MB snapshot does not hold up
 * the event loop.
 */
const SYNC_WRITE_MAX_BYTES = 1024 * 1024;

const writeAsync = promisify(write);

/** Writes all of `bytes` to `fd` from its current offset. */
async function writeAll(fd: number, bytes: Uint8Array): Promise<void> {
  const small = bytes.byteLength <= SYNC_WRITE_MAX_BYTES;
  for (let at = 0; at < bytes.byteLength; ) {
    const left = bytes.byteLength - at;
    at += small ? writeSync(fd, bytes, at, left) : (await writeAsync(fd, bytes, at, left)).bytesWritten;
  }
}

/**
 * Writes `body` to a fresh temp file in `tempDir`, with mtime (and atime) `mtime` (seconds) when
 * given, fsynced. Returns its path and stats. If any step fails (ENOSPC, EIO…), the temp is
 * removed and the original error thrown.
 */
export async function writeTemp(
  tempDir: string,
  body: Uint8Array,
  mtime?: number,
): Promise<{ path: string; stats: BigIntStats }> {
  const temp = tempName("write");
  const path = join(tempDir, temp);
  const fd = createExclusive(tempDir, temp);
  let written = false;
  try {
    await writeAll(fd, body);
    if (mtime !== undefined) futimesSync(fd, mtime, mtime);
    // The stat reads what is already set; it need not wait for the data to reach the disk.
    const stats = fstatSync(fd, { bigint: true });
    await fsyncFd(fd);
    written = true;
    return { path, stats };
  } finally {
    // Once fsynced, the file is complete whatever close says.
    closeQuietly(fd);
    if (!written) await unlinkQuietly(path).catch(() => {});
  }
}

/**
 * Runs `place` (a link or rename into `dir`), creating `dir` first when it is missing. A
 * concurrent delete may prune `dir` between our mkdir and our link, as pruning removes empty
 * folders; once our file is in, the folder is no longer empty, so a retry settles it.
 */
export async function intoFolder<T>(dir: string, place: () => T | Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await place();
    } catch (e) {
      if (errnoCode(e) !== "ENOENT" || attempt >= 20) throw e;
      await mkdir(dir, { recursive: true, mode: DIR_MODE });
    }
  }
}

/** Removes temp files in `tempDir` left by processes that no longer run. Never touches a live writer's temp. */
export async function removeDeadTemps(tempDir: string): Promise<void> {
  let names: string[];
  try {
    names = readdirSync(tempDir);
  } catch {
    return;
  }
  const alive = new Map<number, boolean>();
  for (const name of names) {
    const match = TEMP_NAME.exec(name);
    if (match === null) continue;
    const pid = Number(match[1]);
    if (pid === process.pid) continue;
    let live = alive.get(pid);
    if (live === undefined) {
      live = isProcessAlive(pid);
      alive.set(pid, live);
    }
    if (!live) await unlinkQuietly(join(tempDir, name)).catch(() => {});
  }
}
