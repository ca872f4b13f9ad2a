import { createBackend, normalizePrefix } from "../backend/index.js";
import { backendInternals } from "../backend/internals.js";
import { SNAPSHOT_SUFFIX } from "../backend/layout.js";
import type { LockHolder } from "../errors.js";
import { mapBounded } from "../internal/bounded.js";
import { holderFields } from "../lock/lease.js";
import type { ObjectStore } from "../objectstore/types.js";
import { type AdminOptions, type AdminProgress, checkpoint, progressOf } from "./common.js";

export type ListStacksPhase = "reading";
export type ListStacksProgress = AdminProgress<ListStacksPhase>;

export interface ListStacksOptions extends AdminOptions<ListStacksPhase> {
  /** Key prefix inside the store, as given to `createBackend`. */
  prefix?: string;
  /** Stacks whose pointer and lock are read at once. Default 4. */
  concurrency?: number;
}

/** A stack found in a store: its current rev, revision count and lock holder. */
export interface StackSummary {
  factory: string;
  stack: string;
  /** The current rev, or null when the stack has none. */
  current: string | null;
  revisions: number;
  locked: boolean;
  holder: LockHolder | null;
}

const CONCURRENCY = 4;

interface Found {
  factory: string;
  stack: string;
  revisions: number;
  hasCurrent: boolean;
  locked: boolean;
}

/**
 * Every `<factory>/<stack>` under `prefix`, sorted, with its current rev and lock holder. Needs
 * no key: pointers and locks are plain JSON, read without opening any snapshot. Objects that do
 * not fit the layout are ignored; a `current` that cannot be read rejects the call (`E_CORRUPT`).
 */
export async function listStacks(
  store: ObjectStore,
  options: ListStacksOptions = {},
): Promise<StackSummary[]> {
  const prefix = normalizePrefix(options.prefix);
  const what = "listing of stacks";
  checkpoint(what, options.signal);
  const found = new Map<string, Found>();
  for await (const o of store.list(prefix)) {
    const parts = o.key.slice(prefix.length).split("/");
    const [factory, stack, leaf, name] = parts;
    if (factory === undefined || stack === undefined || leaf === undefined) continue;
    const id = `${factory}/${stack}`;
    let summary = found.get(id);
    const ensure = () => {
      summary ??= { factory, stack, revisions: 0, hasCurrent: false, locked: false };
      found.set(id, summary);
      return summary;
    };
    if (parts.length === 3 && leaf === "current") ensure().hasCurrent = true;
    else if (parts.length === 3 && leaf === "lock") ensure().locked = true;
    else if (parts.length === 4 && leaf === "snapshots" && name?.endsWith(SNAPSHOT_SUFFIX))
      ensure().revisions++;
  }
  const stacks = [...found.values()].sort((a, b) =>
    a.factory === b.factory ? (a.stack < b.stack ? -1 : 1) : a.factory < b.factory ? -1 : 1,
  );
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
    const pointer = s.hasCurrent ? await backendInternals(backend).currentPointer() : undefined;
    const info = s.locked ? await backend.lockInfo() : undefined;
    progress("reading", ++done, stacks.length, { stack: `${s.factory}/${s.stack}` });
    return {
      factory: s.factory,
      stack: s.stack,
      current: pointer?.rev ?? null,
      revisions: s.revisions,
      locked: info !== undefined,
      holder: info === undefined ? null : holderFields(info),
    };
  });
}
