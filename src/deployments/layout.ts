import type { Encrypter } from "../crypto/types.js";
import type { ObjectStore } from "../objectstore/types.js";

/** What a read-modify-write decides after seeing the freshest stored record. */
export type Change<T> = { put: T } | { remove: true } | { keep: true };

export interface UpdateResult<T> {
  before: T | undefined;
  after: T | undefined;
}

/**
 * How one kind of record (instances, changesets, drift…) sits in the store. Every write is a
 * compare-and-swap (or create-only) retried on a lost race, so writers in other processes never
 * lose each other's changes.
 */
export interface RecordLayout<T> {
  /** The stored record, read from the store, or `undefined`. */
  read(id: string): Promise<T | undefined>;
  /**
   * Reads the freshest record, asks `decide` what to do, and writes conditionally; on a lost
   * race it re-reads and asks again. `decide` may throw to abort without writing.
   */
  update(id: string, decide: (current: T | undefined) => Change<T>): Promise<UpdateResult<T>>;
  /** Every stored record of this kind. */
  all(): Promise<T[]>;
  /** Refuses, before any I/O, an id this layout cannot store (`E_INVALID_NAME`). */
  checkId(id: string): void;
  /** `record` as a read of it would return it once written (field names, Go defaults…). */
  normalise(record: T): T;
}

/** What every layout needs to reach the store. */
export interface LayoutContext {
  store: ObjectStore;
  /** Key prefix, empty or ending in `/`. */
  prefix: string;
  encrypter: Encrypter | undefined;
  maxChunkBytes: number;
  /**
   * How ids and records are written: `statekeeper` (ids encoded losslessly, statekeeper's field
   * names) or `bluelink` (Bluelink's `KeyBuilder` keys and Go JSON field names, src/deployments/bluelink.ts).
   */
  naming: "statekeeper" | "bluelink";
}
