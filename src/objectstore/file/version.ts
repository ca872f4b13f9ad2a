import { randomInt } from "node:crypto";
import type { BigIntStats } from "node:fs";
import { open, stat } from "node:fs/promises";
import { errnoCode } from "./fs-ops.js";

/**
 * What identifies one version of a file-store object without reading it: its inode number, its
 * size and its modification time in nanoseconds. Objects are never modified in place, only
 * replaced by rename or link of a new file, so none of the three changes while a version is in
 * place (link, rename and unlink change the ctime, which is why it is left out). The store sets
 * the mtime of every version it writes (`freshMtime`), before the file is placed:
 *
 * - a write that replaces an object (compare-and-swap, unconditional put: under the key's mutex)
 *   gives the new version an mtime strictly later than the one it replaces, so along a key's
 *   chain of replacements no version's etag can come back;
 * - a create-only write (no predecessor to compare with) takes the current millisecond plus a
 *   random fraction of it (one of ~4 000 values a double can carry there).
 *
 * So a stale etag matches a different version only if the object was deleted and created again
 * within the same millisecond (or the clock stepped back onto it), the new file got the freed
 * inode number, has the same size and drew the same fraction.
 */
export interface Version {
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
}

export function etagOf(v: Version): string {
  return `"${v.ino.toString(16)}-${v.size.toString(16)}-${v.mtimeNs.toString(16)}"`;
}

/** The version at `path`, or undefined when there is no object (nothing, or a folder of other keys). */
export async function statVersion(path: string): Promise<BigIntStats | undefined> {
  let stats: BigIntStats;
  try {
    stats = await stat(path, { bigint: true });
  } catch (e) {
    if (errnoCode(e) === "ENOENT" || errnoCode(e) === "ENOTDIR") return undefined;
    throw e;
  }
  return stats.isFile() ? stats : undefined;
}

const NS_PER_MS = 1_000_000n;

/**
 * An mtime (in seconds, as `futimes` takes it) for a new version: the current millisecond plus a
 * random fraction of it, and strictly later than `afterNs` when given (the version it replaces).
 */
export function freshMtime(afterNs?: bigint): number {
  const ms = Date.now();
  let ns = BigInt(ms) * NS_PER_MS + BigInt(randomInt(1_000_000));
  // A double holds about 240 ns of precision at today's dates: step a full microsecond past.
  if (afterNs !== undefined && ns <= afterNs + 1_000n) ns = afterNs + 1_000n + BigInt(randomInt(1_000));
  return Number(ns) / 1e9;
}

/**
 * Gives the file at `path` (a temp not yet in place) an mtime strictly later than `afterNs`,
 * fsynced, and returns its new stats. Used when a replacement's temp was stamped before the
 * version it replaces (written within the same millisecond, or by a clock behind).
 */
export async function restampAfter(path: string, afterNs: bigint): Promise<BigIntStats> {
  const handle = await open(path, "r+");
  try {
    for (let attempt = 0; ; attempt++) {
      const t = freshMtime(afterNs + BigInt(attempt) * 1_000n);
      await handle.utimes(t, t);
      const stats = await handle.stat({ bigint: true });
      if (stats.mtimeNs > afterNs) {
        await handle.sync();
        return stats;
      }
    }
  } finally {
    await handle.close();
  }
}
