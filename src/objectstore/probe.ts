import { randomBytes } from "node:crypto";
import { StateKeeperError } from "../errors.js";
import type { Capabilities, ObjectInfo, ObjectStore } from "./types.js";
import { isStoreError, StoreError } from "./types.js";

/** Every probe writes its scratch object under this prefix, one fresh random key per run. */
export const PROBE_PREFIX = ".statekeeper-probe/";

/**
 * A scratch object last written this long before a probe's own, by the store's clock, was left by
 * a probe that was killed before it could remove it. A probe takes seconds; ten minutes leaves a
 * wide margin for a slow one still running elsewhere.
 */
export const STALE_PROBE_AGE_MS = 10 * 60_000;

/** Runs per probe (each on a fresh scratch key) before an unsettled probe gives up. */
const MAX_PROBE_RUNS = 3;

export const probeScratchKey = (): string => `${PROBE_PREFIX}${randomBytes(8).toString("hex")}`;

/**
 * Runs one round of checks on scratch key `key`. `noteTransportFailure` is called for every
 * write whose outcome was unknown for a while (a lost response, a 5xx, a 409), even when the
 * driver retried or resolved it. Throttling is not one (the store answered "not done"), nor is a
 * failed read (it changes nothing).
 */
export type ProbeRun<T extends { capabilities: Capabilities }> = (
  key: string,
  noteTransportFailure: () => void,
) => Promise<T>;

const CHECKS = [
  ["createOnly", "create-only"],
  ["compareAndSwap", "compare-and-swap"],
  ["conditionalDelete", "conditional delete"],
] as const;

const refusedChecks = (caps: Capabilities): string[] =>
  CHECKS.filter(([field]) => !caps[field]).map(([, name]) => name);

/**
 * Runs a probe until its verdict can be trusted, so that a lost response never becomes a
 * "store refused" remembered for the life of the store object (`storeCapabilities` caches it).
 *
 * A lost response can make a check look refused (the retry meets the probe's own first write),
 * never make an ignored condition look honoured. So a run in which a write's outcome was
 * unknown is kept only if every check says "honoured"; a run with a "no", or one that ended in a
 * retryable error, is repeated on a fresh scratch key. After MAX_PROBE_RUNS unsettled runs the
 * probe throws a retryable E_UNAVAILABLE, which no caller caches: the last run's own error when
 * no run got as far as a verdict (it names the real cause: unreachable, disk full…).
 */
export async function settleProbe<T extends { capabilities: Capabilities }>(run: ProbeRun<T>): Promise<T> {
  const repeated: string[] = [];
  let lastFailure: unknown;
  let lastNotes: string[] | undefined;
  for (let attempt = 1; attempt <= MAX_PROBE_RUNS; attempt++) {
    let disturbed = false;
    let result: T;
    try {
      result = await run(probeScratchKey(), () => {
        disturbed = true;
      });
    } catch (e) {
      if (!isStoreError(e) || !e.retryable) throw e;
      lastFailure = e;
      repeated.push(
        `probe: run ${attempt} failed in transit (${e.message}); repeated on a fresh scratch key`,
      );
      continue;
    }
    lastNotes = result.capabilities.notes;
    const refused = refusedChecks(result.capabilities);
    if (!disturbed || refused.length === 0) {
      const notes = [...result.capabilities.notes, ...repeated];
      return { ...result, capabilities: { ...result.capabilities, notes } };
    }
    repeated.push(
      `probe: run ${attempt} met a transport failure, so its "no" for ${refused.join(", ")} was checked again on a fresh scratch key`,
    );
  }
  if (lastNotes === undefined) throw lastFailure;
  throw new StoreError(
    "UNAVAILABLE",
    `store probe inconclusive: each of ${MAX_PROBE_RUNS} runs met a transport failure (lost responses or server errors); try again`,
    {
      retryable: true,
      // What the last run found, for whoever investigates; none of it was trusted.
      details: { notes: [...lastNotes, ...repeated] },
      ...(lastFailure === undefined ? {} : { cause: lastFailure }),
    },
  );
}

/**
 * Which scratch objects in `listing` (of PROBE_PREFIX) are stale: written at least `maxAgeMs`
 * before `ownKey`, the running probe's fresh object. Ages are judged by the store's clock alone
 * (both lastModified values come from it); a local clock skewed against the store's would
 * otherwise delete a running probe's object, or never delete anything. Without the own object's
 * time, nothing is judged stale.
 */
export function staleProbeKeys(listing: readonly ObjectInfo[], ownKey: string, maxAgeMs: number): string[] {
  const own = listing.find((o) => o.key === ownKey)?.lastModified?.getTime();
  if (own === undefined) return [];
  return listing
    .filter(
      (o) =>
        o.key !== ownKey &&
        o.key.startsWith(PROBE_PREFIX) &&
        o.lastModified !== undefined &&
        own - o.lastModified.getTime() >= maxAgeMs,
    )
    .map((o) => o.key);
}

/**
 * Deletes the scratch objects of earlier probes that were killed before removing their own.
 * Call it while the running probe's scratch object `ownKey` exists. Best effort: a failure here
 * never fails the probe. Returns a note when it removed anything.
 */
export async function sweepStaleProbeObjects(
  store: Pick<ObjectStore, "list"> & { delete(key: string): Promise<unknown> },
  ownKey: string,
  maxAgeMs: number,
): Promise<string[]> {
  try {
    const listing: ObjectInfo[] = [];
    for await (const o of store.list(PROBE_PREFIX)) listing.push(o);
    const stale = staleProbeKeys(listing, ownKey, maxAgeMs);
    for (const key of stale) await store.delete(key);
    return stale.length === 0
      ? []
      : [`probe: removed ${stale.length} scratch object(s) left by interrupted probes`];
  } catch {
    return [];
  }
}

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

/** One round of the generic checks on `key`; a request that fails in transit ends the round. */
async function checkConditionalRequests(store: ObjectStore, key: string): Promise<Capabilities> {
  const notes: string[] = [];
  const body = async () => decode((await store.get(key))?.body);
  try {
    const created = await store.put(key, text("probe-1"), { ifNoneMatch: "*" });
    const swept = await sweepStaleProbeObjects(store, key, STALE_PROBE_AGE_MS);
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
    notes.push(`conditional delete: ${conditionalDelete ? "honoured" : "ignored"}`, ...swept);
    return { createOnly, compareAndSwap, conditionalDelete, notes };
  } finally {
    await store.delete(key).catch(() => {});
  }
}

/**
 * Checks with real conditional requests under a scratch key which preconditions `store` honours:
 * create-only on a missing and on an existing key, compare-and-swap with a wrong and with the
 * right etag, conditional delete with a wrong etag. Removes the scratch key afterwards, and the
 * scratch keys of earlier probes that were killed (see `sweepStaleProbeObjects`). A request that
 * fails in transit (its outcome unknown) ends the run, which is repeated on a fresh key (see
 * `settleProbe`): the driver's `put` owns resolving its own lost responses.
 */
export async function probeConditionalRequests(store: ObjectStore): Promise<Capabilities> {
  const { capabilities } = await settleProbe(async (key) => ({
    capabilities: await checkConditionalRequests(store, key),
  }));
  return capabilities;
}

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
 * Which heads a store with these capabilities can keep: a stack with a `current` pointer needs
 * create-only and compare-and-swap writes; a stack headed by a log needs create-only writes alone.
 */
export function supportedHeads(caps: Capabilities): { pointer: boolean; log: boolean } {
  return { pointer: caps.createOnly && caps.compareAndSwap, log: caps.createOnly };
}

/**
 * The one capability gate: a store that does not honour create-only and compare-and-swap writes
 * gives no exclusion at all, so every layer (backend, records, deployments) refuses it before
 * any state is written (`E_UNSUPPORTED_STORE`, naming what is missing and the probe's notes).
 * A stack headed by a log needs create-only writes alone (`compareAndSwap: false`).
 */
export async function assertStoreSupported(
  store: ObjectStore,
  needs: { compareAndSwap?: boolean } = {},
): Promise<Capabilities> {
  const caps = await storeCapabilities(store);
  const missing: string[] = [];
  if (!caps.createOnly) missing.push("create-only writes (If-None-Match: *)");
  if (!caps.compareAndSwap && needs.compareAndSwap !== false)
    missing.push("compare-and-swap writes (If-Match)");
  if (missing.length > 0)
    throw new StateKeeperError(
      "E_UNSUPPORTED_STORE",
      `the ${store.name} store does not honour ${missing.join(" or ")}; refusing to write state to it (${caps.notes.join("; ")})`,
      { details: { store: store.name, capabilities: caps } },
    );
  return caps;
}
