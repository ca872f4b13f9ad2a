import { type CurrentPointer, currentObject, pointerOf } from "../backend/current.js";
import { createBackend, factoryOfKey, normalizePrefix, validateName } from "../backend/index.js";
import { SNAPSHOT_SUFFIX, stackLayout } from "../backend/layout.js";
import type { LockHolder } from "../errors.js";
import { mapBounded } from "../internal/bounded.js";
import { LruCache } from "../internal/lru.js";
import { holderFields } from "../lock/lease.js";
import { foldersUnder } from "../objectstore/kit.js";
import type { ObjectStore } from "../objectstore/types.js";
import { type AdminOptions, type AdminProgress, checkpoint, progressOf } from "./common.js";

export type ListStacksPhase = "reading";
export type ListStacksProgress = AdminProgress<ListStacksPhase>;

export interface ListStacksOptions extends AdminOptions<ListStacksPhase> {
  /** Key prefix inside the store, as given to `createBackend`. */
  prefix?: string;
  /**
   * Count every stack's revisions (default true): one listing of each stack's `snapshots/` (on
   * the file store a stat per revision). Without it, `revisions` is null and the cost is in the
   * number of stacks, not in the length of their histories: what the web view's stacks page does.
   */
  revisions?: boolean;
  /**
   * Pointers read by earlier calls, kept by key and etag (`stacksCache()`): a pointer whose etag
   * (a HEAD) is still the one it was read with is not read again. For callers that list often
   * (the web view); an etag names one version of an object on every store, so nothing stale is
   * reused.
   */
  cache?: StacksCache;
  /** Stacks whose pointer and lock are read at once. Default 16 (small objects: the requests' latency, not their work, is what adds up). */
  concurrency?: number;
}

/** A stack found in a store: its current rev, revision count and lock holder. */
export interface StackSummary {
  factory: string;
  stack: string;
  /** The current rev, or null when the stack has none. */
  current: string | null;
  /** Sealed size in bytes of the current revision, as the pointer records it (nothing is opened); null without one. */
  size: number | null;
  /**
   * Entries of the current revision, as the pointer records it (nothing is opened); null without
   * one, or when the committer did not record it (pointers written before it was recorded, some
   * format-2 overlay commits, and wrapped documents such as Terraform states: open it to count).
   */
  entries: number | null;
  /** When `current` was last moved (a commit or a rollback), and by whom (`user@host`); null without one. */
  updated: string | null;
  by: string | null;
  /** Revisions kept; null when the listing was asked not to count them (`revisions: false`). */
  revisions: number | null;
  locked: boolean;
  holder: LockHolder | null;
}

const CONCURRENCY = 16;

/** Pointers `listStacks` read, by key, with the etag they were read at. */
export interface StacksCache {
  readonly pointers: LruCache<string, { etag: string; pointer: CurrentPointer | undefined }>;
}

export function stacksCache(maxStacks = 50_000): StacksCache {
  return { pointers: new LruCache(maxStacks) };
}

/** A stack's folder, by factory and stack name. */
interface Found {
  factory: string;
  stack: string;
}

/**
 * Every `<factory>/<stack>` under `prefix`, sorted, with its current rev and lock holder; a
 * factory is given by its name (`github.com/acme/webshop`), decoded from its key segment. Stacks
 * are found folder by folder (the factories' folders, then the stacks' under each: never a
 * listing of everything, so a stack's chunks are never visited), then each stack's `current` and
 * `lock` are read (and its `snapshots/` listed to count revisions). Needs no key: pointers and
 * locks are plain JSON, read without opening any snapshot. Folders and objects that do not fit
 * the layout are ignored; a `current` that cannot be read rejects the call (`E_CORRUPT`).
 */
export async function listStacks(
  store: ObjectStore,
  options: ListStacksOptions = {},
): Promise<StackSummary[]> {
  const prefix = normalizePrefix(options.prefix);
  const what = "listing of stacks";
  checkpoint(what, options.signal);
  const concurrency = options.concurrency ?? CONCURRENCY;
  const stacks = await stacksByFolder(store, prefix, concurrency);
  stacks.sort((a, b) =>
    a.factory === b.factory ? (a.stack < b.stack ? -1 : 1) : a.factory < b.factory ? -1 : 1,
  );
  const cache = options.cache;
  /** The pointer, from the cache while `current` still has the etag it was read with. */
  const readPointer = async (key: string): Promise<CurrentPointer | undefined> => {
    const known = cache?.pointers.get(key);
    if (known !== undefined) {
      const etag = (await store.head(key))?.etag;
      if (etag === undefined) return undefined;
      if (known.etag === etag) return known.pointer;
    }
    const got = await currentObject(store, key).read();
    if (got === undefined) return undefined;
    // An unreadable pointer throws here (E_CORRUPT), as `currentPointer()` does, and is not kept.
    const pointer = pointerOf(got.value);
    cache?.pointers.set(key, { etag: got.etag, pointer });
    return pointer;
  };
  const progress = progressOf(options.onProgress);
  progress("reading", 0, stacks.length);
  let done = 0;
  const rows = await mapBounded(stacks, concurrency, async (s): Promise<StackSummary | undefined> => {
    checkpoint(what, options.signal);
    const layout = stackLayout(prefix, s.factory, s.stack);
    // Metadata only: this backend has no encrypter, and opens nothing.
    const backend = createBackend(store, {
      ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
      factory: s.factory,
      stack: s.stack,
    });
    /** Revisions under `snapshots/`: all of them, or (`upTo` 1) whether there is one. */
    const countRevisions = async (upTo = Number.POSITIVE_INFINITY) => {
      let n = 0;
      for await (const o of store.list(layout.snapshotsPrefix)) {
        const name = o.key.slice(layout.snapshotsPrefix.length);
        if (!name.includes("/") && name.endsWith(SNAPSHOT_SUFFIX) && ++n >= upTo) break;
      }
      return n;
    };
    const [pointer, info, revisions] = await Promise.all([
      readPointer(layout.current),
      backend.lockInfo(),
      options.revisions === false ? null : countRevisions(),
    ]);
    progress("reading", ++done, stacks.length, { stack: `${s.factory}/${s.stack}` });
    // A folder with neither pointer nor lock is a stack only if it holds a revision.
    if (pointer === undefined && info === undefined && (revisions ?? (await countRevisions(1))) === 0)
      return undefined;
    return {
      factory: s.factory,
      stack: s.stack,
      current: pointer?.rev ?? null,
      size: pointer?.size ?? null,
      entries: pointer?.entries ?? null,
      updated: pointer?.updated ?? null,
      by: pointer?.by ?? null,
      revisions,
      locked: info !== undefined,
      holder: info === undefined ? null : holderFields(info),
    };
  });
  return rows.filter((r) => r !== undefined);
}

/** Whether a key segment can be a stack's name (else the folder is not a stack of this layout). */
function isStackName(segment: string): boolean {
  try {
    validateName("stack", segment);
    return true;
  } catch {
    return false;
  }
}

/** The factory a key segment names, or undefined when it is not a factory's key (not a stack of this layout). */
function factoryOf(segment: string): string | undefined {
  try {
    // The key segment of a factory with `/` is its `factoryKey` (`github.com~acme~webshop`).
    return factoryOfKey(segment);
  } catch {
    return undefined;
  }
}

/** Stacks by their folders: the factories' folders under `prefix`, then the stacks' under each. */
async function stacksByFolder(store: ObjectStore, prefix: string, concurrency: number): Promise<Found[]> {
  const factories: { factory: string; folder: string }[] = [];
  for await (const folder of foldersUnder(store, prefix)) {
    const factory = factoryOf(folder.slice(prefix.length, -1));
    if (factory !== undefined) factories.push({ factory, folder });
  }
  const perFactory = await mapBounded(factories, concurrency, async ({ factory, folder }) => {
    const stacks: Found[] = [];
    for await (const stackFolder of foldersUnder(store, folder)) {
      const stack = stackFolder.slice(folder.length, -1);
      if (isStackName(stack)) stacks.push({ factory, stack });
    }
    return stacks;
  });
  return perFactory.flat();
}
