import { type CurrentPointer, currentObject, pointerOf } from "../backend/current.js";
import { createBackend, factoryOfKey, normalizePrefix, validateName } from "../backend/index.js";
import { backendInternals } from "../backend/internals.js";
import { SNAPSHOT_SUFFIX, stackLayout } from "../backend/layout.js";
import type { LockHolder } from "../errors.js";
import { mapBounded } from "../internal/bounded.js";
import { LruCache } from "../internal/lru.js";
import { holderFields } from "../lock/lease.js";
import type { ObjectStore } from "../objectstore/types.js";
import { type AdminOptions, type AdminProgress, checkpoint, progressOf } from "./common.js";

export type ListStacksPhase = "reading";
export type ListStacksProgress = AdminProgress<ListStacksPhase>;

export interface ListStacksOptions extends AdminOptions<ListStacksPhase> {
  /** Key prefix inside the store, as given to `createBackend`. */
  prefix?: string;
  /**
   * Count every stack's revisions (default true): the listing then visits `snapshots/` (on the
   * file store a stat per revision). Without it, `revisions` is null and the listing visits only
   * `current` and `lock`: its cost is in the number of stacks, not in the length of their
   * histories (what the web view's stacks page does), and a stack is found by its `current`, its
   * `lock`, or its log's `head` hint (one whose revisions never became current is not listed). A
   * stack headed by a log is read through its head (its revisions counted from the log).
   */
  revisions?: boolean;
  /**
   * Pointers read by earlier calls, kept by key and etag (`stacksCache()`): a pointer whose etag
   * in this listing is the one it was read with is not read again. For callers that list often
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

interface Found {
  factory: string;
  stack: string;
  revisions: number;
  /** The etag the listing gave `current`; undefined when the stack has none. */
  currentEtag: string | undefined;
  locked: boolean;
  /** A log's `head` hint was listed: the stack is headed by a log. */
  logHeaded: boolean;
}

/**
 * Every `<factory>/<stack>` under `prefix`, sorted, with its current rev and lock holder; a
 * factory is given by its name (`github.com/acme/webshop`), decoded from its key segment. One
 * listing of the prefix finds them, with `current`'s etag and whether a lock is there; it skips
 * every stack's `chunks/` (and `snapshots/`, without `revisions`), so on the file store, whose
 * listing `stat`s each object, a long history costs nothing. Needs no key: pointers and locks are
 * plain JSON, read without opening any snapshot. Objects that do not fit the layout are ignored;
 * a `current` that cannot be read rejects the call (`E_CORRUPT`).
 */
export async function listStacks(
  store: ObjectStore,
  options: ListStacksOptions = {},
): Promise<StackSummary[]> {
  const prefix = normalizePrefix(options.prefix);
  const what = "listing of stacks";
  checkpoint(what, options.signal);
  const counting = options.revisions !== false;
  // Folders three deep are a stack's (`factory/stack/snapshots/`); only its revisions are wanted.
  const skip = (folder: string) => {
    const parts = folder.slice(prefix.length, -1).split("/");
    return parts.length >= 3 && !(counting && parts.length === 3 && parts[2] === "snapshots");
  };
  const found = new Map<string, Found>();
  for await (const o of store.list(prefix, { skip })) {
    const parts = o.key.slice(prefix.length).split("/");
    const [segment, stack, leaf, name] = parts;
    if (segment === undefined || stack === undefined || leaf === undefined) continue;
    const factory = factoryOf(segment);
    if (factory === undefined || !isStackName(stack)) continue;
    const id = `${segment}/${stack}`;
    let summary = found.get(id);
    const ensure = () => {
      summary ??= { factory, stack, revisions: 0, currentEtag: undefined, locked: false, logHeaded: false };
      found.set(id, summary);
      return summary;
    };
    if (parts.length === 3 && leaf === "current") ensure().currentEtag = o.etag;
    else if (parts.length === 3 && leaf === "lock") ensure().locked = true;
    else if (parts.length === 3 && leaf === "head") ensure().logHeaded = true;
    else if (parts.length === 4 && leaf === "snapshots" && name?.endsWith(SNAPSHOT_SUFFIX))
      ensure().revisions++;
  }
  const stacks = [...found.values()].sort((a, b) =>
    a.factory === b.factory ? (a.stack < b.stack ? -1 : 1) : a.factory < b.factory ? -1 : 1,
  );
  const cache = options.cache;
  /** The pointer, from the cache when the listing found it at the etag it was read with. */
  const readPointer = async (s: Found, listedEtag: string): Promise<CurrentPointer | undefined> => {
    const key = stackLayout(prefix, s.factory, s.stack).current;
    const known = cache?.pointers.get(key);
    if (known !== undefined && known.etag === listedEtag) return known.pointer;
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
  return mapBounded(stacks, options.concurrency ?? CONCURRENCY, async (s): Promise<StackSummary> => {
    checkpoint(what, options.signal);
    // Metadata only: this backend has no encrypter, and opens nothing.
    const backend = createBackend(store, {
      ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
      factory: s.factory,
      stack: s.stack,
    });
    let pointer: CurrentPointer | undefined;
    let info: Awaited<ReturnType<typeof backend.lockInfo>>;
    if (s.logHeaded) {
      // A log's head names its lock and its current revision (its commit entry, its writer); a
      // stack with a `current` beside its log is refused here (E_CORRUPT), as the backend refuses it.
      [pointer, info] = await Promise.all([backendInternals(backend).currentPointer(), backend.lockInfo()]);
      if (counting) s.revisions = (await backend.list()).length;
    } else {
      pointer = s.currentEtag === undefined ? undefined : await readPointer(s, s.currentEtag);
      info = s.locked ? await backend.lockInfo() : undefined;
    }
    progress("reading", ++done, stacks.length, { stack: `${s.factory}/${s.stack}` });
    return {
      factory: s.factory,
      stack: s.stack,
      current: pointer?.rev ?? null,
      size: pointer?.size ?? null,
      entries: pointer?.entries ?? null,
      updated: pointer?.updated ?? null,
      by: pointer?.by ?? null,
      revisions: counting ? s.revisions : null,
      locked: info !== undefined,
      holder: info === undefined ? null : holderFields(info),
    };
  });
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
