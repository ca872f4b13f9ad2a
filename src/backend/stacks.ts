import type { ObjectStore } from "../objectstore/types.js";
import { SNAPSHOT_SUFFIX } from "./layout.js";
import { normalizePrefix } from "./names.js";

/** A stack found in a store, with what one listing can tell about it. */
export interface StackSummary {
  factory: string;
  stack: string;
  revisions: number;
  hasCurrent: boolean;
  locked: boolean;
}

/**
 * Every `<factory>/<stack>` under `prefix`, sorted, from one full listing of the store: the
 * stacks an operator can open. Objects that do not fit the layout are ignored.
 */
export async function listStacks(store: ObjectStore, prefix?: string): Promise<StackSummary[]> {
  const base = normalizePrefix(prefix);
  const found = new Map<string, StackSummary>();
  for await (const o of store.list(base)) {
    const parts = o.key.slice(base.length).split("/");
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
  return [...found.values()].sort((a, b) =>
    a.factory === b.factory ? (a.stack < b.stack ? -1 : 1) : a.factory < b.factory ? -1 : 1,
  );
}
