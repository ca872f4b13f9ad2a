import { StateKeeperError } from "../errors.js";
import type { Capabilities, ObjectStore } from "../objectstore/types.js";

const probed = new WeakMap<ObjectStore, Promise<Capabilities>>();

/**
 * The store's capabilities, probed once per store object and shared by every backend on it.
 * Only a settled verdict is remembered: a probe returns one only when no transport failure can
 * have caused its "no" (see `settleProbe`), and throws otherwise. A failed probe (network down,
 * responses lost) is not remembered: the next call probes again.
 */
export function storeCapabilities(store: ObjectStore): Promise<Capabilities> {
  let caps = probed.get(store);
  if (caps === undefined) {
    const probing = store.probe();
    probing.catch(() => {
      if (probed.get(store) === probing) probed.delete(store);
    });
    probed.set(store, probing);
    caps = probing;
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
