import type { Stats } from "node:fs";
import { stat } from "node:fs/promises";
import { dirname } from "node:path";
import { StateKeeperError } from "../../errors.js";
import { errnoCode } from "./fs-ops.js";

/** Refuses, at construction, a root no filesystem call could ever accept. */
export function checkRootOption(root: unknown): string {
  if (typeof root !== "string" || root === "")
    throw new StateKeeperError("E_INVALID_CONFIG", "fileStore: root must be a non-empty path", {
      details: { option: "root" },
    });
  if (root.includes("\0"))
    throw new StateKeeperError("E_INVALID_CONFIG", "fileStore: root must not contain a NUL character", {
      details: { option: "root" },
    });
  return root;
}

function notAFolder(rootPath: string, why: string): StateKeeperError {
  return new StateKeeperError("E_INVALID_CONFIG", `store root ${rootPath} ${why}`, {
    details: { option: "root", root: rootPath },
  });
}

/** The nearest existing ancestor of `path`, for naming the file a root lies under. */
async function nearestExisting(path: string): Promise<string> {
  for (let current = dirname(path); ; current = dirname(current)) {
    try {
      await stat(current);
      return current;
    } catch {
      if (dirname(current) === current) return current;
    }
  }
}

/**
 * A check run before every operation: a root that is a file (or lies under one) would otherwise
 * read as an empty store (`get` → undefined, so callers report "no current snapshot") and fail
 * writes with ENOTDIR about some key. The root is stat'ed until it is seen to be a folder, then
 * trusted: one stat per operation only while the root is missing (the first write creates it).
 */
export function rootFolderCheck(rootPath: string): () => Promise<void> {
  let isFolder = false;
  return async () => {
    if (isFolder) return;
    let stats: Stats;
    try {
      stats = await stat(rootPath);
    } catch (e) {
      if (errnoCode(e) === "ENOTDIR")
        throw notAFolder(
          rootPath,
          `lies under ${await nearestExisting(rootPath)}, which is a file, not a folder`,
        );
      // A missing root is created by the first write; any other error is the operation's to report.
      return;
    }
    if (!stats.isDirectory()) throw notAFolder(rootPath, "is a file, not a folder");
    isFolder = true;
  };
}
