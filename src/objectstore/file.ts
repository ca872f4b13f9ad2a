import { type BigIntStats, linkSync, renameSync } from "node:fs";
import { lstat, open } from "node:fs/promises";
import { basename, dirname, resolve, sep } from "node:path";
import { isStateKeeperError, StateKeeperError } from "../errors.js";
import {
  errnoCode,
  fsyncDir,
  isInternalName,
  pruneEmptyDirs,
  storeErrorFromFs,
  unlinkQuietly,
} from "./file/fs-ops.js";
import { type KeyPlace, withKeyMutex } from "./file/mutex.js";
import { checkRootOption, rootFolderCheck } from "./file/root.js";
import { intoFolder, removeDeadTemps, TEMP_DIR_NAME, writeTemp } from "./file/temps.js";
import { etagOf, freshMtime, restampAfter, statVersion } from "./file/version.js";
import { type WalkedFile, walkKeys } from "./file/walk.js";
import { checkDelete, checkPut, validateKey, validatePrefix } from "./kit.js";
import { probeConditionalRequests } from "./probe.js";
import { type ObjectInfo, type ObjectStore, type PutOptions, StoreError } from "./types.js";

export interface FileStoreOptions {
  /** How long a write waits for another process's hold on the same key before failing (default 30 s). */
  mutexTimeoutMs?: number;
}

interface Located extends KeyPlace {
  path: string;
}

interface StoredFile {
  body: Uint8Array;
  etag: string;
}

/**
 * An ObjectStore over a local folder: key `a/b/c` is the file `<root>/a/b/c`. It gives the same
 * guarantees across processes on one machine as S3's conditional writes: every write goes to an
 * fsynced temp file in the root's one temp folder, then is renamed (or, create-only, linked) into
 * place, so readers see a whole old or whole new object; compare-and-swap, unconditional puts and
 * deletes of one key are serialised by a per-key mutex (a symlink, so it needs no free space) that
 * a killed holder cannot leave blocked. Needs a local POSIX filesystem (one filesystem for the
 * whole root) shared by processes in one pid namespace; see docs/file-store.md.
 */
export function fileStore(root: string, options: FileStoreOptions = {}): ObjectStore {
  checkRootOption(root);
  const mutexTimeoutMs = options.mutexTimeoutMs ?? 30_000;
  if (!Number.isFinite(mutexTimeoutMs) || mutexTimeoutMs < 0)
    throw new StateKeeperError(
      "E_INVALID_CONFIG",
      "fileStore: mutexTimeoutMs must be a non-negative number",
      {
        details: { option: "mutexTimeoutMs" },
      },
    );
  const rootPath = resolve(root);
  const rootWithSep = rootPath.endsWith(sep) ? rootPath : `${rootPath}${sep}`;
  const tempDir = resolve(rootPath, TEMP_DIR_NAME);
  const checkRoot = rootFolderCheck(rootPath);

  function locate(key: string): Located {
    validateKey(key);
    if (key.split("/").some(isInternalName))
      throw new StoreError(
        "INVALID_KEY",
        `invalid store key ${JSON.stringify(key)}: names like '.x.tmp' and '.x.mutex' are reserved by the file store`,
        { key },
      );
    const path = resolve(rootPath, ...key.split("/"));
    // validateKey already refuses '..' and absolute keys; this catches anything it might miss.
    if (!path.startsWith(rootWithSep))
      throw new StoreError(
        "INVALID_KEY",
        `invalid store key ${JSON.stringify(key)}: resolves outside the store root`,
        {
          key,
        },
      );
    return { path, dir: dirname(path), name: basename(path), tempDir };
  }

  const preconditionFailed = (key: string, why: string) =>
    new StoreError("PRECONDITION_FAILED", `object ${key} ${why}`, { key });

  const asStoreError = (e: unknown, operation: string, key: string) =>
    isStateKeeperError(e) ? e : storeErrorFromFs(e, operation, key);

  /** Places a new version of `key`; returns its etag. */
  async function putFile(at: Located, key: string, body: Uint8Array, opts: PutOptions): Promise<string> {
    const written = await writeTemp(tempDir, body, freshMtime());
    let temp: string | undefined = written.path;
    let placed = written.stats;
    try {
      if (opts.ifNoneMatch === "*") {
        // link() fails if the target exists and exposes only the complete, fsynced temp.
        try {
          await intoFolder(at.dir, () => linkSync(temp as string, at.path));
        } catch (e) {
          if (errnoCode(e) === "EEXIST") throw preconditionFailed(key, "already exists");
          throw e;
        }
      } else {
        // Unconditional puts take the mutex too, so a compare-and-swap never overwrites a write it did not see.
        await withKeyMutex(at, key, mutexTimeoutMs, async (held) => {
          const current = await statVersion(at.path);
          if (opts.ifMatch !== undefined && (current === undefined || etagOf(current) !== opts.ifMatch))
            throw preconditionFailed(key, `does not have etag ${opts.ifMatch}`);
          // A replacement is always stamped later than what it replaces (see file/version.ts).
          if (current !== undefined && placed.mtimeNs <= current.mtimeNs)
            placed = await restampAfter(temp as string, current.mtimeNs);
          await held.assertStillHeld();
          renameSync(temp as string, at.path);
          temp = undefined;
        });
      }
      // A deferred write is made durable by the next plain put into this folder (its fsync).
      if (opts.durability !== "deferred") await fsyncDir(at.dir);
    } finally {
      if (temp !== undefined) await unlinkQuietly(temp).catch(() => {});
    }
    return etagOf(placed);
  }

  async function deleteFile(at: Located, key: string, ifMatch: string | undefined): Promise<void> {
    if (!(await exists(at.path))) {
      if (ifMatch !== undefined) throw preconditionFailed(key, "does not exist");
      return;
    }
    let removed = false;
    await withKeyMutex(at, key, mutexTimeoutMs, async (held) => {
      const current = await statVersion(at.path);
      if (current === undefined && ifMatch === undefined) return;
      if (ifMatch !== undefined && (current === undefined || etagOf(current) !== ifMatch))
        throw preconditionFailed(key, `does not have etag ${ifMatch}`);
      await held.assertStillHeld();
      await unlinkQuietly(at.path);
      removed = true;
    });
    if (removed) await fsyncDir(at.dir);
    await pruneEmptyDirs(at.dir, rootPath);
  }

  const store: ObjectStore = {
    name: "file",

    async get(key) {
      const at = locate(key);
      try {
        await checkRoot();
        const stored = await readFile(at.path);
        return stored === undefined ? undefined : { body: stored.body, etag: stored.etag };
      } catch (e) {
        throw asStoreError(e, "get", key);
      }
    },

    async head(key) {
      const at = locate(key);
      try {
        await checkRoot();
        const stats = await statVersion(at.path);
        return stats === undefined ? undefined : info(key, stats);
      } catch (e) {
        throw asStoreError(e, "head", key);
      }
    },

    async put(key, body, opts = {}) {
      const at = locate(key);
      checkPut(key, body, opts);
      let etag: string;
      // Removes what dead writers left in the temp folder as this write starts (it reads only that
      // folder, never the key's folder of objects); done when the put returns.
      let swept: Promise<void> | undefined;
      try {
        await checkRoot();
        swept = removeDeadTemps(tempDir);
        etag = await putFile(at, key, body, opts);
      } catch (e) {
        throw asStoreError(e, "put", key);
      } finally {
        await swept;
      }
      return { etag };
    },

    async delete(key, opts = {}) {
      const at = locate(key);
      checkDelete(key, opts);
      try {
        await checkRoot();
        await deleteFile(at, key, opts.ifMatch);
      } catch (e) {
        throw asStoreError(e, "delete", key);
      }
    },

    async *list(prefix, options): AsyncGenerator<ObjectInfo> {
      validatePrefix(prefix);
      let current = prefix;
      try {
        await checkRoot();
        // A stat, not a read: listing never opens the objects it lists; a skipped folder, or one
        // wholly before `startAfter`, is not read.
        const walked = walkKeys(rootPath, prefix, options);
        for await (const { key, stats } of statAhead(walked, LIST_STATS_AHEAD)) {
          current = key;
          // A file deleted between the folder read and now is simply no longer there.
          if (stats !== undefined) yield info(key, stats);
        }
      } catch (e) {
        throw asStoreError(e, "list", current);
      }
    },

    probe: () => probeConditionalRequests(store),
  };
  return store;
}

/** Files a listing stats ahead of the one it yields (they run on libuv's thread pool at once). */
const LIST_STATS_AHEAD = 32;

/** The walked files with their versions, in walk order, statting up to `width` files ahead. */
async function* statAhead(
  files: AsyncIterable<WalkedFile>,
  width: number,
): AsyncGenerator<{ key: string; stats: BigIntStats | undefined }> {
  const ahead: { key: string; stats: Promise<BigIntStats | undefined> }[] = [];
  const next = async () => {
    const first = ahead.shift() as (typeof ahead)[number];
    try {
      return { key: first.key, stats: await first.stats };
    } catch (e) {
      throw storeErrorFromFs(e, "list", first.key);
    }
  };
  for await (const file of files) {
    const stats = statVersion(file.path);
    stats.catch(() => {}); // awaited in order below; a listing stopped early drops the rest
    ahead.push({ key: file.key, stats });
    if (ahead.length >= width) yield await next();
  }
  while (ahead.length > 0) yield await next();
}

function info(key: string, stats: BigIntStats): ObjectInfo {
  return { key, size: Number(stats.size), etag: etagOf(stats), lastModified: stats.mtime };
}

/**
 * Reads one object. Body and etag come from one open file: objects are never modified in place
 * (only replaced by rename), so they are consistent with each other.
 */
async function readFile(path: string): Promise<StoredFile | undefined> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, "r");
  } catch (e) {
    if (errnoCode(e) === "ENOENT" || errnoCode(e) === "ENOTDIR") return undefined;
    throw e;
  }
  try {
    const stats = await handle.stat({ bigint: true });
    // A folder at this path holds other keys; the key itself does not exist.
    if (!stats.isFile()) return undefined;
    const read = await handle.readFile();
    // A plain Uint8Array over the buffer just read, not a copy: `new Uint8Array(buffer)` copies
    // element by element (1.3 s for a 100 MB revision), and nothing else holds this buffer.
    const body = new Uint8Array(read.buffer, read.byteOffset, read.byteLength);
    return { body, etag: etagOf(stats) };
  } finally {
    await handle.close();
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (e) {
    if (errnoCode(e) === "ENOENT" || errnoCode(e) === "ENOTDIR") return false;
    throw e;
  }
}
