import type { Backend } from "../backend/index.js";
import { backendInternals, type ChunkReseal } from "../backend/internals.js";
import { inspectEnvelope } from "../crypto/index.js";
import { errorKind, StateKeeperError } from "../errors.js";
import {
  type AdminProgress,
  checkpoint,
  type LockedAdminOptions,
  nameOf,
  progressOf,
  runLocked,
} from "./common.js";

export type RekeyPhase = "resealing" | "resealing chunks";
export type RekeyProgress = AdminProgress<RekeyPhase>;
export type RekeyOptions = LockedAdminOptions<RekeyPhase>;

/** A revision `rekeyStack` could not re-seal, left as it was. */
export interface RekeyFailure {
  rev: string;
  /** An integrity code: `E_DECRYPT` (no configured key opens it), `E_CORRUPT`, … */
  code: string;
  message: string;
  /** The key id in its envelope header, or null when it is not an envelope. */
  sealedWith: string | null;
}

export interface RekeyReport {
  /** The key id everything is re-sealed with: the backend encrypter's sealing (primary) key. */
  primary: string;
  revisions: number;
  resealed: number;
  /** Revisions already sealed with the primary key, left alone. */
  alreadyOnPrimary: number;
  /** How many revisions each key id sealed before, as their envelope headers said. */
  before: Record<string, number>;
  /** The same after the run (failures stay on the key they were on). */
  after: Record<string, number>;
  failed: RekeyFailure[];
  /**
   * The chunks and chunk lists of format-2 revisions, re-sealed the same way (ids unchanged: a
   * chunk first written under the noop encrypter keeps its content-address id, whose digest the
   * store showed in plaintext anyway; chunks written after the rekey get random ids).
   */
  chunks: ChunkReseal;
}

function tally(counts: Record<string, number>, keyId: string): void {
  counts[keyId] = (counts[keyId] ?? 0) + 1;
}

/**
 * Under the stack's lock, re-seals every revision with the sealing (primary) key of the
 * backend's encrypter — a keyring whose fallbacks open the old revisions: `keyring(newKey,
 * oldKey)`. Revisions already on it are left alone (told apart by key id and, for passphrases,
 * KDF salt). Revisions that cannot be opened (another key, corrupt) are reported in `failed` and
 * left as they are; a store failure rejects the call. Each revision is replaced whole by
 * compare-and-swap, the current one so that `current` verifies at every moment, so an abort (or
 * a lost lock) between two revisions leaves every revision readable with the keyring.
 */
export async function rekeyStack(backend: Backend, options: RekeyOptions = {}): Promise<RekeyReport> {
  const internals = backendInternals(backend);
  const encrypter = internals.encrypter;
  if (encrypter === undefined)
    throw new StateKeeperError(
      "E_INVALID_CONFIG",
      `rekeyStack: the backend for ${nameOf(backend)} has no encrypter; create it with a keyring whose first key is the new one`,
    );
  const what = `rekey of ${nameOf(backend)}`;
  checkpoint(what, options.signal);
  const progress = progressOf(options.onProgress);
  return runLocked(backend, "rekey", options, async (lock) => {
    const revs = await backend.list();
    const before: Record<string, number> = {};
    const after: Record<string, number> = {};
    const failed: RekeyFailure[] = [];
    let resealed = 0;
    progress("resealing", 0, revs.length);
    for (const [i, rev] of revs.entries()) {
      checkpoint(what, options.signal, lock);
      let sealedWith: string | null = null;
      try {
        sealedWith = inspectEnvelope(await internals.readSealed(rev)).keyId;
        tally(before, sealedWith);
        if (await internals.reseal(rev)) resealed++;
        tally(after, encrypter.keyId);
      } catch (e) {
        if (errorKind(e) !== "integrity") throw e;
        const { code, message } = e as StateKeeperError;
        failed.push({ rev, code, message, sealedWith });
        if (sealedWith !== null) tally(after, sealedWith);
      }
      progress("resealing", i + 1, revs.length, { rev });
    }
    checkpoint(what, options.signal, lock);
    const chunks = await internals.resealChunks((done, total) => {
      checkpoint(what, options.signal, lock);
      progress("resealing chunks", done, total);
    });
    return {
      chunks,
      primary: encrypter.keyId,
      revisions: revs.length,
      resealed,
      before,
      after,
      failed,
      alreadyOnPrimary: revs.length - resealed - failed.length,
    };
  });
}
