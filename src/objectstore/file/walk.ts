import type { Dirent } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { compareKeys, validateKey } from "../kit.js";
import type { ListOptions } from "../types.js";
import { errnoCode, isInternalName } from "./fs-ops.js";

export interface WalkedFile {
  key: string;
  path: string;
}

/**
 * Yields the files under `root` whose key starts with `prefix`, in key byte order, visiting only
 * the folder the prefix points into. Siblings are ordered by `name` for files and `name + "/"`
 * for folders: every key under a folder starts with that, so a depth-first walk in this order
 * is globally sorted (a file `a-b` comes before the folder `a/`, as '-' < '/').
 */
export async function* walkKeys(
  root: string,
  prefix: string,
  options: ListOptions = {},
): AsyncGenerator<WalkedFile> {
  const slash = prefix.lastIndexOf("/");
  const keyDir = slash < 0 ? "" : prefix.slice(0, slash);
  const startDir = keyDir === "" ? root : join(root, ...keyDir.split("/"));
  yield* walkDir(startDir, keyDir, prefix.slice(slash + 1), options);
}

/**
 * Whether every key a folder `folder` (ending in `/`) can hold comes at or before `startAfter`:
 * they all start with `folder`, so that is when `startAfter` is past `folder` without being in it.
 */
function folderBefore(folder: string, startAfter: string | undefined): boolean {
  return startAfter !== undefined && !startAfter.startsWith(folder) && compareKeys(folder, startAfter) < 0;
}

/**
 * A folder's files and folders that can be objects or hold them, with their keys, in walk order
 * (see `walkKeys`); a folder that vanished (pruned after its last delete) or never existed has none.
 */
async function visibleEntries(dirPath: string, keyDir: string): Promise<{ entry: Dirent; key: string }[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(dirPath, { withFileTypes: true });
  } catch (e) {
    if (errnoCode(e) === "ENOENT" || errnoCode(e) === "ENOTDIR") return [];
    throw e;
  }
  return entries
    .filter((e) => !isInternalName(e.name) && (e.isFile() || e.isDirectory()))
    .map((e) => ({
      entry: e,
      key: keyDir === "" ? e.name : `${keyDir}/${e.name}`,
      order: e.isDirectory() ? `${e.name}/` : e.name,
    }))
    .filter((e) => isValidKey(e.key))
    .sort((a, b) => compareKeys(a.order, b.order));
}

/**
 * The files under one folder, in key order, after `startAfter`; a folder `skip` refuses
 * (`ListOptions.skip`), or whose keys all come before `startAfter`, is not read.
 */
async function* walkDir(
  dirPath: string,
  keyDir: string,
  namePrefix: string,
  options: ListOptions,
): AsyncGenerator<WalkedFile> {
  const { skip, startAfter } = options;
  for (const { entry, key } of await visibleEntries(dirPath, keyDir)) {
    if (!entry.name.startsWith(namePrefix)) continue;
    const path = join(dirPath, entry.name);
    if (!entry.isDirectory()) {
      if (startAfter === undefined || compareKeys(key, startAfter) > 0) yield { key, path };
    } else if (!folderBefore(`${key}/`, startAfter) && (skip === undefined || !skip(`${key}/`)))
      yield* walkDir(path, key, "", options);
  }
}

/** Files placed by hand under names no key can have are not objects. */
function isValidKey(key: string): boolean {
  try {
    validateKey(key);
    return true;
  } catch {
    return false;
  }
}
