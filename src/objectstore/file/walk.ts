import type { Dirent } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
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

async function* walkDir(dirPath: string, keyDir: string, namePrefix: string): AsyncGenerator<WalkedFile> {
  let entries: Dirent[];
  try {
    entries = await readdir(dirPath, { withFileTypes: true });
  } catch (e) {
    // A folder that vanished (pruned after its last delete) or never existed holds no keys.
    if (errnoCode(e) === "ENOENT" || errnoCode(e) === "ENOTDIR") return;
    throw e;
  }
  const visible = entries
    .filter(
      (e) => e.name.startsWith(namePrefix) && !isInternalName(e.name) && (e.isFile() || e.isDirectory()),
    )
    .map((e) => ({ entry: e, order: e.isDirectory() ? `${e.name}/` : e.name }))
    .sort((a, b) => compareKeys(a.order, b.order));
  for (const { entry } of visible) {
    const key = keyDir === "" ? entry.name : `${keyDir}/${entry.name}`;
    if (!isValidKey(key)) continue;
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
