import type { Backend } from "../backend/index.js";
import { backendInternals } from "../backend/internals.js";
import { sha256Hex } from "../backend/layout.js";
import { StateKeeperError } from "../errors.js";
import { encodeCanonical } from "../snapshot/codec.js";
import {
  type AdminProgress,
  checkpoint,
  type LockedAdminOptions,
  nameOf,
  progressOf,
  runLocked,
} from "./common.js";

export type MigratePhase = "comparing" | "copying" | "verifying";
export type MigrateProgress = AdminProgress<MigratePhase>;
export type MigrateOptions = LockedAdminOptions<MigratePhase>;

export interface MigrateReport {
  factory: string;
  stack: string;
  /** Revisions in the source (all of them are in the target now). */
  revisions: number;
  copied: number;
  alreadyPresent: number;
  /** The source's current rev when the migration started, now the target's; null when none. */
  current: string | null;
  /** Every revision and the target's current read back identical. */
  verified: true;
  /** The source's current moved during the copy: run the migration again to copy the rest. */
  sourceAdvanced: boolean;
  /**
   * Into a stack headed by a log, whose revisions are named by their place in it: each source rev
   * and the name its copy got (in the source's order). Absent when names were kept.
   */
  renamed?: Record<string, string>;
}

async function plaintextDigest(backend: Backend, rev: string): Promise<string> {
  return sha256Hex(encodeCanonical(await backend.get(rev)));
}

function conflict(message: string): StateKeeperError {
  return new StateKeeperError("E_CONFLICT", `refusing to migrate: ${message}`);
}

/**
 * Copies every revision of a stack, with the same rev names and parents, then the current
 * pointer, to the same factory/stack in another store (`target`: a backend on that store, whose
 * encrypter seals the copy). The target is locked while copying; the source is only read. Into a
 * stack headed by a log (an empty one: `head: "log"`), the revisions are appended in order and
 * renamed by their place, parents renamed with them (`renamed` maps the names).
 *
 * Before anything is written, a target with revisions the source lacks, with a current not in
 * the source's history, or with the same rev holding other content is refused (`E_CONFLICT`).
 * Every copied revision is read back and compared before the target's current is moved, and
 * the target's current is checked afterwards (`E_CORRUPT` if anything differs). Re-running
 * copies only what is missing. An abort (or a lost lock) stops between two revisions: what was
 * copied is whole, and the target's current has not moved.
 */
export async function migrateStack(
  source: Backend,
  target: Backend,
  options: MigrateOptions = {},
): Promise<MigrateReport> {
  if (source.factory !== target.factory || source.stack !== target.stack)
    throw new StateKeeperError(
      "E_INVALID_ARGUMENT",
      `migrateStack: the target is ${nameOf(target)}, not ${nameOf(source)}; a migration keeps the factory and stack`,
    );
  const sourceInternals = backendInternals(source);
  const targetInternals = backendInternals(target);
  const name = nameOf(source);
  const what = `migration of ${name}`;
  const { signal } = options;
  const progress = progressOf(options.onProgress);
  checkpoint(what, signal);

  const sourcePointer = await sourceInternals.currentPointer();
  const revs = await source.list();
  if (revs.length === 0)
    throw new StateKeeperError(
      "E_NOT_FOUND",
      `nothing to migrate: ${name} has no revisions in the source store (${source.store.name})`,
      { details: { factory: source.factory, stack: source.stack } },
    );

  const result = await runLocked(target, "migrate", options, async (lock) => {
    // Into a log, revisions are named by their place: they are appended in order and renamed.
    const intoLog = (await targetInternals.headMode()) === "log";
    const existing = await target.list();
    /** Digests of the source revisions' snapshots, by source rev. */
    const digests = new Map<string, string>();
    /** Where each source revision is in the target. */
    const copies = new Map<string, string>();
    const targetPointer = await targetInternals.currentPointer();
    if (intoLog) {
      // A log cannot hold a copy under the source's names, so a re-run could not tell what it copied.
      if (existing.length > 0)
        throw conflict(
          `the target ${name} is headed by a log and already has ${existing.length} revision(s); a migration into a log ` +
            "renames the revisions in order and starts from an empty stack",
        );
    } else {
      const inSource = new Set(revs);
      const foreign = existing.filter((r) => !inSource.has(r));
      if (foreign.length > 0)
        throw conflict(
          `the target ${name} already has ${foreign.length} revision(s) the source lacks (first: ${foreign[0]})`,
        );
      if (targetPointer !== undefined && !inSource.has(targetPointer.rev))
        throw conflict(`the target's current rev ${targetPointer.rev} is not in the source's history`);
      // Compare every overlapping revision before writing anything, so a refusal leaves no partial copy.
      progress("comparing", 0, existing.length);
      for (const [i, rev] of existing.entries()) {
        checkpoint(what, signal, lock);
        const [a, b] = await Promise.all([plaintextDigest(source, rev), plaintextDigest(target, rev)]);
        if (a !== b) throw conflict(`revision ${rev} exists in the target with other content`);
        digests.set(rev, a);
        copies.set(rev, rev);
        progress("comparing", i + 1, existing.length, { rev });
      }
    }
    const alreadyPresent = copies.size;

    progress("copying", 0, revs.length);
    for (const [i, rev] of revs.entries()) {
      checkpoint(what, signal, lock);
      if (!copies.has(rev)) {
        // The parent travels with the revision, so verify follows the same line in the copy.
        const { snapshot, parentRevision } = await source.readRevision(rev);
        const parent = intoLog && parentRevision ? copies.get(parentRevision) : parentRevision;
        digests.set(rev, sha256Hex(encodeCanonical(snapshot)));
        copies.set(rev, await targetInternals.importRevision(rev, snapshot, parent));
      }
      progress("copying", i + 1, revs.length, { rev });
    }

    progress("verifying", 0, revs.length);
    for (const [i, rev] of revs.entries()) {
      checkpoint(what, signal, lock);
      const copy = copies.get(rev) as string;
      if ((await plaintextDigest(target, copy)) !== digests.get(rev))
        throw new StateKeeperError(
          "E_CORRUPT",
          `the copy of revision ${rev}${copy === rev ? "" : ` (${copy})`} does not read back identical`,
          { details: { rev, copy } },
        );
      progress("verifying", i + 1, revs.length, { rev });
    }

    let current: string | null = null;
    if (sourcePointer !== undefined) {
      // The last point to stop: after it, the target's current moves to the verified copy (on a
      // log, a commit of its content when it is not the last one copied).
      checkpoint(what, signal, lock);
      const copy = copies.get(sourcePointer.rev) as string;
      if (targetPointer?.rev !== copy) await target.setCurrent(copy);
      current = await target.currentRev();
      if (sha256Hex(encodeCanonical(await target.current())) !== digests.get(sourcePointer.rev))
        throw new StateKeeperError(
          "E_CORRUPT",
          `the target's current does not read back as ${sourcePointer.rev}`,
          {
            details: { rev: sourcePointer.rev },
          },
        );
    }
    return {
      copied: revs.length - alreadyPresent,
      alreadyPresent,
      current,
      ...(intoLog ? { renamed: Object.fromEntries(copies) } : {}),
    };
  });

  const after = await sourceInternals.currentPointer();
  const { current, ...counts } = result;
  return {
    factory: source.factory,
    stack: source.stack,
    revisions: revs.length,
    ...counts,
    current,
    verified: true,
    sourceAdvanced: after?.rev !== sourcePointer?.rev,
  };
}
