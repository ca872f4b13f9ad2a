import { probeConditionalRequests } from "../objectstore/probe.js";
import type { ObjectStore, PutOptions } from "../objectstore/types.js";
import { StoreError } from "../objectstore/types.js";

export type StoreOperation = "get" | "head" | "put" | "delete" | "list" | "probe";

/** A call seen by a decorator: which operation, on which key, with which conditions. */
export interface StoreCall {
  op: StoreOperation;
  key: string;
  opts?: PutOptions;
}

/** Wraps a store, recording every call (for request counting and "nothing was written" checks). */
export function recordingStore(inner: ObjectStore): { store: ObjectStore; calls: StoreCall[] } {
  const calls: StoreCall[] = [];
  return { store: interceptStore(inner, (call) => void calls.push(call)), calls };
}

/** How many of `calls` were one of `ops`. */
export const countCalls = (calls: readonly StoreCall[], ...ops: StoreOperation[]): number =>
  calls.filter((c) => ops.includes(c.op)).length;

/**
 * Wraps a store with a hook run before each call. The hook may throw to fail the call, or return
 * `"lose-response"` to apply the call and then throw a retryable UNAVAILABLE error as if the
 * response had been lost on the way back.
 */
export function interceptStore(
  inner: ObjectStore,
  hook: (call: StoreCall) => undefined | "lose-response" | Promise<undefined | "lose-response">,
): ObjectStore {
  const lost = (call: StoreCall) =>
    new StoreError("UNAVAILABLE", `injected: response to ${call.op} ${call.key} lost`, {
      key: call.key,
      outcomeUnknown: call.op === "put" || call.op === "delete",
    });
  return {
    name: inner.name,
    async get(key) {
      const call: StoreCall = { op: "get", key };
      const verdict = await hook(call);
      const r = await inner.get(key);
      if (verdict === "lose-response") throw lost(call);
      return r;
    },
    async head(key) {
      const call: StoreCall = { op: "head", key };
      const verdict = await hook(call);
      const r = await inner.head(key);
      if (verdict === "lose-response") throw lost(call);
      return r;
    },
    async put(key, body, opts) {
      const call: StoreCall = opts === undefined ? { op: "put", key } : { op: "put", key, opts };
      const verdict = await hook(call);
      const r = await inner.put(key, body, opts);
      if (verdict === "lose-response") throw lost(call);
      return r;
    },
    async delete(key, opts) {
      const call: StoreCall = opts === undefined ? { op: "delete", key } : { op: "delete", key, opts };
      const verdict = await hook(call);
      await inner.delete(key, opts);
      if (verdict === "lose-response") throw lost(call);
    },
    async *list(prefix, options) {
      await hook({ op: "list", key: prefix });
      yield* inner.list(prefix, options);
    },
    async probe() {
      await hook({ op: "probe", key: "" });
      return inner.probe();
    },
  };
}

/**
 * A store that silently ignores `ifNoneMatch` / `ifMatch`, as Backblaze B2, Garage and some
 * MinIO/RGW versions do: every conditional write "succeeds". statekeeper must refuse it.
 */
export function ignoringPreconditionsStore(inner: ObjectStore): ObjectStore {
  return {
    name: `${inner.name}(ignores-preconditions)`,
    get: (key) => inner.get(key),
    head: (key) => inner.head(key),
    put: (key, body) => inner.put(key, body),
    delete: (key) => inner.delete(key),
    list: (prefix, options) => inner.list(prefix, options),
    async probe() {
      // Probe for real through the lying interface, exactly as a driver would against such a store.
      return probeConditionalRequests(this);
    },
  };
}

/**
 * A store that honours `If-None-Match: *` but ignores `If-Match`, as AWS S3 did between August and
 * November 2024 and as the original unobin S3 backend assumed: a compare-and-swap overwrites
 * whatever is there, a conditional delete deletes. The probe sees exactly that (create-only
 * honoured, compare-and-swap and conditional delete not), so only a protocol built on create-only
 * writes alone may run on it.
 */
export function ignoringIfMatchStore(inner: ObjectStore): ObjectStore {
  return {
    name: `${inner.name}(ignores-if-match)`,
    get: (key) => inner.get(key),
    head: (key) => inner.head(key),
    put: (key, body, opts = {}) => {
      const { ifMatch: _ignored, ...kept } = opts;
      return inner.put(key, body, kept);
    },
    delete: (key) => inner.delete(key),
    list: (prefix, options) => inner.list(prefix, options),
    async probe() {
      return probeConditionalRequests(this);
    },
  };
}
