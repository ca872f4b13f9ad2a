import { randomBytes } from "node:crypto";
import type { Capabilities, ObjectStore } from "./types.js";
import { isStoreError } from "./types.js";

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const decode = (b: Uint8Array | undefined): string | undefined =>
  b === undefined ? undefined : new TextDecoder().decode(b);

/** Runs `attempt`; true when it failed with PRECONDITION_FAILED, false when it succeeded. */
async function refused(attempt: () => Promise<unknown>): Promise<boolean> {
  try {
    await attempt();
    return false;
  } catch (e) {
    if (isStoreError(e, "PRECONDITION_FAILED")) return true;
    throw e;
  }
}

/**
 * Checks with real conditional requests under a scratch key which preconditions `store` honours:
 * create-only on a missing and on an existing key, compare-and-swap with a wrong and with the
 * right etag, conditional delete with a wrong etag. Removes the scratch key afterwards.
 */
export async function probeConditionalRequests(store: ObjectStore): Promise<Capabilities> {
  const key = `.statekeeper-probe/${randomBytes(8).toString("hex")}`;
  const notes: string[] = [];
  const body = async () => decode((await store.get(key))?.body);
  try {
    const created = await store.put(key, text("probe-1"), { ifNoneMatch: "*" });
    const createOnly =
      (await refused(() => store.put(key, text("probe-2"), { ifNoneMatch: "*" }))) &&
      (await body()) === "probe-1";
    notes.push(`create-only: ${createOnly ? "honoured" : "ignored (an existing object was overwritten)"}`);

    const wrongEtag = `"${"0".repeat(32)}"`;
    const refusesWrongEtag =
      (await refused(() => store.put(key, text("probe-3"), { ifMatch: wrongEtag }))) &&
      (await body()) === "probe-1";
    const acceptsRightEtag =
      !(await refused(() => store.put(key, text("probe-4"), { ifMatch: created.etag }))) &&
      (await body()) === "probe-4";
    const compareAndSwap = refusesWrongEtag && acceptsRightEtag;
    notes.push(
      `compare-and-swap: ${compareAndSwap ? "honoured" : `${refusesWrongEtag ? "" : "wrong etag accepted; "}${acceptsRightEtag ? "" : "right etag refused"}`}`,
    );

    const conditionalDelete =
      (await refused(() => store.delete(key, { ifMatch: wrongEtag }))) &&
      (await store.head(key)) !== undefined;
    notes.push(`conditional delete: ${conditionalDelete ? "honoured" : "ignored"}`);
    return { createOnly, compareAndSwap, conditionalDelete, notes };
  } finally {
    await store.delete(key).catch(() => {});
  }
}
