import type { BigIntStats } from "node:fs";
import { mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import {
  createExclusive,
  DIR_MODE,
  errnoCode,
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
 * Writes `body` to a fresh temp file in `tempDir`, with mtime (and atime) `mtime` (seconds) when
 * given, fsynced. Returns its path and stats. If any step fails (ENOSPC, EIO…, also at close),
 * the temp is removed and the original error thrown.
 */
export async function writeTemp(
  tempDir: string,
  body: Uint8Array | string,
  mtime?: number,
): Promise<{ path: string; stats: BigIntStats }> {
  const temp = tempName("write");
  const path = join(tempDir, temp);
  const handle = await createExclusive(tempDir, temp);
  let written = false;
  try {
    await handle.writeFile(body);
    if (mtime !== undefined) await handle.utimes(mtime, mtime);
    // The stat reads what is already set; it need not wait for the data to reach the disk.
    const [, stats] = await Promise.all([handle.sync(), handle.stat({ bigint: true })]);
    written = true;
    // Once fsynced, the file is complete whatever close says, and Linux frees the descriptor even
    // when close reports an error: the caller need not wait for it to place the file.
    handle.close().catch(() => {});
    return { path, stats };
  } finally {
    if (!written) {
      await handle.close().catch(() => {});
      await unlinkQuietly(path).catch(() => {});
    }
  }
}

/**
 * Runs `place` (a link or rename into `dir`), creating `dir` first when it is missing. A
 * concurrent delete may prune `dir` between our mkdir and our link, as pruning removes empty
 * folders; once our file is in, the folder is no longer empty, so a retry settles it.
 */
export async function intoFolder<T>(dir: string, place: () => Promise<T>): Promise<T> {
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
    names = await readdir(tempDir);
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
