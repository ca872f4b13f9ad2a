import type { Dirent } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { mapBounded } from "../../internal/bounded.js";
import { compareKeys, validateKey } from "../kit.js";
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
export async function* walkKeys(root: string, prefix: string): AsyncGenerator<WalkedFile> {
  const slash = prefix.lastIndexOf("/");
  const keyDir = slash < 0 ? "" : prefix.slice(0, slash);
  const startDir = keyDir === "" ? root : join(root, ...keyDir.split("/"));
  yield* walkDir(startDir, keyDir, prefix.slice(slash + 1));
}

/**
 * The folders one level below `prefix` that hold at least one file (`ObjectStore.listFolders`),
 * sorted, each as its key prefix ending in `/`. Reads the one folder the prefix points into, and
 * under each candidate only until a file turns up: a folder emptied by a delete whose pruning
 * raced, or left by a crash, is not a folder of the store.
 */
export async function listFolderKeys(root: string, prefix: string): Promise<string[]> {
  const slash = prefix.lastIndexOf("/");
  const keyDir = slash < 0 ? "" : prefix.slice(0, slash);
  const startDir = keyDir === "" ? root : join(root, ...keyDir.split("/"));
  const namePrefix = prefix.slice(slash + 1);
  const candidates = (await visibleEntries(startDir, keyDir))
    .filter(({ entry }) => entry.isDirectory() && entry.name.startsWith(namePrefix))
    .map(({ entry, key }) => ({ path: join(startDir, entry.name), key }));
  const held = await mapBounded(candidates, FOLDER_CHECKS, (c) => holdsAFile(c.path, c.key));
  return candidates.filter((_, i) => held[i]).map((c) => `${c.key}/`);
}

/** Folders `listFolderKeys` looks into at once (each a readdir or two on libuv's thread pool). */
const FOLDER_CHECKS = 16;

/** Whether some file with a valid key is under the folder: its own files first, then its folders in turn. */
async function holdsAFile(dirPath: string, keyDir: string): Promise<boolean> {
  const entries = await visibleEntries(dirPath, keyDir);
  if (entries.some(({ entry }) => entry.isFile())) return true;
  for (const { entry, key } of entries)
    if (entry.isDirectory() && (await holdsAFile(join(dirPath, entry.name), key))) return true;
  return false;
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

async function* walkDir(dirPath: string, keyDir: string, namePrefix: string): AsyncGenerator<WalkedFile> {
  for (const { entry, key } of await visibleEntries(dirPath, keyDir)) {
    if (!entry.name.startsWith(namePrefix)) continue;
    const path = join(dirPath, entry.name);
    if (entry.isDirectory()) yield* walkDir(path, key, "");
    else yield { key, path };
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
