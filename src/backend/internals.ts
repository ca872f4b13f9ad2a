/**
 * The backend's administrative operations, off the public `Backend` interface: only the admin
 * layer (`src/admin/`, the `statekeeper/admin` entry point) and tests of these operations reach
 * them. Not exported from the package root.
 */
import type { Encrypter } from "../crypto/types.js";
import { StateKeeperError } from "../errors.js";
import type { Snapshot } from "../snapshot/index.js";
import type { Backend, HeadMode, RevisionInfo } from "./backend.js";
import type { CurrentPointer } from "./current.js";

export interface BackendInternals {
  /** The encrypter the backend was created with (undefined: metadata only). */
  readonly encrypter: Encrypter | undefined;
  /** The raw `current` pointer (rev, digest, who moved it when), or undefined when never set. */
  currentPointer(): Promise<CurrentPointer | undefined>;
  /** Size and time of every revision, oldest first (one listing, no reads). */
  revisions(): Promise<RevisionInfo[]>;
  /** The sealed bytes of a revision, unopened. `E_NOT_FOUND` when missing. */
  readSealed(rev: string): Promise<Uint8Array>;
  /**
   * The object a revision is stored in (its snapshot object, or its entry in a stack's log), for
   * a caller that keys a cache on its etag; undefined for a name that cannot be a revision here.
   */
  revisionKey(rev: string): Promise<string | undefined>;
  /**
   * The head the stack has (learned from its objects), or the one it gets when it is still empty.
   */
  headMode(): Promise<HeadMode>;
  /**
   * Stores `snapshot` at exactly `rev` (migration keeps rev names and parents) and returns `rev`.
   * Create-only: an existing rev with the same content is accepted, with other content it is
   * `E_ALREADY_EXISTS`. On a stack headed by a log, where a revision is named by its place, it is
   * appended as a commit under the lock this backend holds, and its new name is returned.
   */
  importRevision(rev: string, snapshot: Snapshot, parentRevision?: string): Promise<string>;
  /**
   * Re-seals one revision with the encrypter's sealing (primary) key, by compare-and-swap on the
   * object; the `current` digest follows when it is the current rev. False when it was already
   * sealed with that key.
   */
  reseal(rev: string): Promise<boolean>;
  /**
   * Garbage collection of format-2 chunks (`prune` runs it under the lock, after deleting
   * revisions): marks every chunk and chunk list a revision still in the store needs, then deletes
   * the others that are older than `graceMs` by the store's clock (a commit in flight may have
   * written chunks its manifest does not yet name). Nothing is deleted when any revision cannot be
   * opened: what it needs cannot be known.
   */
  sweepChunks(options: SweepOptions): Promise<ChunkSweep>;
  /**
   * Re-seals every chunk and chunk list with the encrypter's sealing key, each by compare-and-swap
   * on the object (its id and plaintext unchanged). Chunks that cannot be opened are reported.
   */
  resealChunks(onEach?: (done: number, total: number) => void): Promise<ChunkReseal>;
}

export interface SweepOptions {
  graceMs: number;
  /** Called between deletions; an abort stops there. */
  checkpoint?: () => void;
  onEach?: (done: number, total: number) => void;
}

export interface ChunkSweep {
  /** Objects under `chunks/` before the sweep. */
  chunks: number;
  /** Deleted, and their sealed bytes. */
  deleted: number;
  deletedBytes: number;
  /** Not needed by any revision, but younger than the grace period: left for a later prune. */
  young: number;
  /** Why nothing was deleted, when the sweep could not run. */
  skipped?: string;
}

export interface ChunkReseal {
  chunks: number;
  resealed: number;
  failed: { chunk: string; code: string; message: string }[];
}

const registry = new WeakMap<Backend, BackendInternals>();

/** Called once by `createBackend` for every backend it makes. */
export function registerBackendInternals(backend: Backend, internals: BackendInternals): void {
  registry.set(backend, internals);
}

/** The administrative operations of a backend made by `createBackend` (or `openBackend`). */
export function backendInternals(backend: Backend): BackendInternals {
  const found = registry.get(backend);
  if (found === undefined)
    throw new StateKeeperError(
      "E_INVALID_ARGUMENT",
      "this operation needs a backend made by createBackend or openBackend (a wrapper or another implementation of Backend has no admin operations)",
    );
  return found;
}
