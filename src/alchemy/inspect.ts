/**
 * Reading an Alchemy stage kept by statekeeper without Alchemy: its resources, and the history of
 * one resource over the stack's revisions (each `set`/`delete` of a deploy is one revision).
 */
import type { Backend } from "../backend/index.js";
import { StateKeeperError } from "../errors.js";
import type { Entry, JsonObject } from "../snapshot/types.js";
import { entryToState, ROOT_PREFIX } from "./entries.js";

export interface AlchemyResourceRow {
  address: string;
  kind: string;
  status: string | undefined;
  fqn: string | undefined;
  seq: number | undefined;
}

function rowOf(entry: Entry): AlchemyResourceRow {
  const s = entryToState(entry);
  return {
    address: entry.address,
    kind: entry.kind ?? "",
    status: typeof s.status === "string" ? s.status : undefined,
    fqn: typeof s.fqn === "string" ? s.fqn : undefined,
    seq: typeof s.seq === "number" ? s.seq : undefined,
  };
}

/** The resources (and scope data) of the stage's current revision, by address; none when it has no state yet. */
export async function listAlchemyResources(
  backend: Backend,
  options: { includeRoot?: boolean } = {},
): Promise<AlchemyResourceRow[]> {
  let entries: Entry[];
  try {
    entries = (await backend.current()).entries;
  } catch (e) {
    if (e instanceof StateKeeperError && e.code === "E_NO_CURRENT") return [];
    throw e;
  }
  return entries
    .filter((e) => options.includeRoot === true || !e.address.startsWith(ROOT_PREFIX))
    .map(rowOf)
    .sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
}

export interface AlchemyResourceVersion {
  /** The revision in which the resource took this state (or was deleted). */
  rev: string;
  /** `deleted` when this revision removed it. */
  change: "created" | "changed" | "deleted";
  status: string | undefined;
  /** Alchemy's serialized state at that revision (secrets still sealed by Alchemy); absent when deleted. */
  state?: JsonObject;
}

/**
 * Every state the resource at `address` had, oldest first: one row per revision that changed it.
 * Revisions that cannot be opened are an error (never skipped): a history with holes would lie.
 */
export async function alchemyResourceHistory(
  backend: Backend,
  address: string,
  options: { signal?: AbortSignal } = {},
): Promise<AlchemyResourceVersion[]> {
  const out: AlchemyResourceVersion[] = [];
  let last: string | undefined;
  for (const rev of await backend.list()) {
    options.signal?.throwIfAborted();
    const { snapshot } = await backend.readRevision(rev);
    const entry = snapshot.entries.find((e) => e.address === address);
    const text = entry === undefined ? undefined : JSON.stringify(entryToState(entry));
    if (text === last) continue;
    if (entry === undefined) out.push({ rev, change: "deleted", status: undefined });
    else {
      const state = entryToState(entry);
      out.push({
        rev,
        change: last === undefined ? "created" : "changed",
        status: typeof state.status === "string" ? state.status : undefined,
        state,
      });
    }
    last = text;
  }
  return out;
}

/**
 * Puts the state the resource at `address` had in revision `rev` back as its current state: a new
 * revision, under the stack's lock (waiting up to `lockTimeoutMs`). A resource absent from `rev`
 * is removed. Alchemy acts on it at its next deploy (the resource is compared with its props).
 */
export async function restoreAlchemyResource(
  backend: Backend,
  address: string,
  rev: string,
  options: { lockTimeoutMs?: number } = {},
): Promise<string> {
  const lock = await backend.lock({
    operation: "alchemy restore",
    timeoutMs: options.lockTimeoutMs ?? 60_000,
  });
  try {
    const old = (await backend.get(rev)).entries.find((e) => e.address === address);
    let present = false;
    try {
      present = (await backend.current()).entries.some((e) => e.address === address);
    } catch (e) {
      if (!(e instanceof StateKeeperError && e.code === "E_NO_CURRENT")) throw e;
    }
    if (old === undefined && !present)
      throw new StateKeeperError(
        "E_NOT_FOUND",
        `${JSON.stringify(address)} is neither in revision ${rev} nor current: nothing to restore`,
      );
    return await backend.commitChanges(old === undefined ? { remove: [address] } : { upsert: [old] });
  } finally {
    await lock.unlock();
  }
}
