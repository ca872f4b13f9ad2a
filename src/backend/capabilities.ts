import { StateKeeperError } from "../errors.js";
import type { Capabilities, ObjectStore } from "../objectstore/types.js";

const probed = new WeakMap<ObjectStore, Promise<Capabilities>>();

/** The store's capabilities, probed once per store object and shared by every backend on it. */
export function storeCapabilities(store: ObjectStore): Promise<Capabilities> {
  let caps = probed.get(store);
  if (caps === undefined) {
    caps = store.probe();
    // A failed probe (network down) is not remembered: the next call probes again.
    caps.catch(() => probed.delete(store));
    probed.set(store, caps);
  }
  return caps;
}

/**
 * Fails closed: a store that does not honour create-only and compare-and-swap writes gives no
 * exclusion at all, so it is refused before any state is written (`E_UNSUPPORTED_STORE`).
 */
export async function assertStoreSupported(store: ObjectStore): Promise<Capabilities> {
  const caps = await storeCapabilities(store);
  const missing: string[] = [];
  if (!caps.createOnly) missing.push("create-only writes (If-None-Match: *)");
  if (!caps.compareAndSwap) missing.push("compare-and-swap writes (If-Match)");
  if (missing.length > 0)
    throw new StateKeeperError(
      "E_UNSUPPORTED_STORE",
      `the ${store.name} store does not honour ${missing.join(" or ")}; refusing to write state to it (${caps.notes.join("; ")})`,
      { details: { store: store.name, capabilities: caps } },
    );
  return caps;
}
