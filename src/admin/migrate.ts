import type { Backend, Lock } from "../backend/index.js";
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
    if ((await targetInternals.headMode()) === "log") return intoLog(lock);
    const inSource = new Set(revs);
    const existing = await target.list();
    const foreign = existing.filter((r) => !inSource.has(r));
    if (foreign.length > 0)
      throw conflict(
        `the target ${name} already has ${foreign.length} revision(s) the source lacks (first: ${foreign[0]})`,
      );
    const targetPointer = await targetInternals.currentPointer();
    if (targetPointer !== undefined && !inSource.has(targetPointer.rev))
      throw conflict(`the target's current rev ${targetPointer.rev} is not in the source's history`);

    // Compare every overlapping revision before writing anything, so a refusal leaves no partial copy.
    const digests = new Map<string, string>();
    const present = new Set(existing);
    progress("comparing", 0, existing.length);
    for (const [i, rev] of existing.entries()) {
      checkpoint(what, signal, lock);
      const [a, b] = await Promise.all([plaintextDigest(source, rev), plaintextDigest(target, rev)]);
      if (a !== b) throw conflict(`revision ${rev} exists in the target with other content`);
      digests.set(rev, a);
      progress("comparing", i + 1, existing.length, { rev });
    }

    progress("copying", 0, revs.length);
    for (const [i, rev] of revs.entries()) {
      checkpoint(what, signal, lock);
      if (!present.has(rev)) {
        // The parent travels with the revision, so verify follows the same line in the copy.
        const { snapshot, parentRevision } = await source.readRevision(rev);
        digests.set(rev, sha256Hex(encodeCanonical(snapshot)));
        await targetInternals.importRevision(rev, snapshot, parentRevision);
      }
      progress("copying", i + 1, revs.length, { rev });
    }

    progress("verifying", 0, revs.length);
    for (const [i, rev] of revs.entries()) {
      checkpoint(what, signal, lock);
      if ((await plaintextDigest(target, rev)) !== digests.get(rev))
        throw new StateKeeperError("E_CORRUPT", `the copy of revision ${rev} does not read back identical`, {
          details: { rev },
        });
      progress("verifying", i + 1, revs.length, { rev });
    }

    if (sourcePointer !== undefined) {
      // The last point to stop: after it, the target's current moves to the verified copy.
      checkpoint(what, signal, lock);
      if (targetPointer?.rev !== sourcePointer.rev) await target.setCurrent(sourcePointer.rev);
      const current = sha256Hex(encodeCanonical(await target.current()));
      if (current !== digests.get(sourcePointer.rev))
        throw new StateKeeperError(
          "E_CORRUPT",
          `the target's current does not read back as ${sourcePointer.rev}`,
          {
            details: { rev: sourcePointer.rev },
          },
        );
    }
    return { copied: revs.length - present.size, alreadyPresent: present.size };
  });

  /**
   * Into a stack headed by a log: every revision appended in the source's order as a commit (its
   * parent renamed with it), each read back; then, when the source's current is not the last one
   * copied, a commit of its content. The target must have no revisions: a log cannot hold a copy
   * under the source's names, so a re-run cannot tell what it copied before.
   */
  async function intoLog(lock: Lock) {
    const existing = await target.list();
    if (existing.length > 0)
      throw conflict(
        `the target ${name} is headed by a log and already has ${existing.length} revision(s); a migration into a log ` +
          "renames the revisions in order and starts from an empty stack",
      );
    const renamed: Record<string, string> = {};
    const copiedDigests = new Map<string, string>();
    progress("copying", 0, revs.length);
    for (const [i, rev] of revs.entries()) {
      checkpoint(what, signal, lock);
      const { snapshot, parentRevision } = await source.readRevision(rev);
      const parent =
        parentRevision === undefined || parentRevision === "" ? parentRevision : renamed[parentRevision];
      const copy = await targetInternals.importRevision(rev, snapshot, parent);
      renamed[rev] = copy;
      copiedDigests.set(copy, sha256Hex(encodeCanonical(snapshot)));
      progress("copying", i + 1, revs.length, { rev });
    }
    progress("verifying", 0, revs.length);
    for (const [i, rev] of revs.entries()) {
      checkpoint(what, signal, lock);
      const copy = renamed[rev] as string;
      if ((await plaintextDigest(target, copy)) !== copiedDigests.get(copy))
        throw new StateKeeperError(
          "E_CORRUPT",
          `the copy of revision ${rev} (${copy}) does not read back identical`,
          {
            details: { rev, copy },
          },
        );
      progress("verifying", i + 1, revs.length, { rev });
    }
    let current: string | null = null;
    if (sourcePointer !== undefined) {
      checkpoint(what, signal, lock);
      const copy = renamed[sourcePointer.rev] as string;
      await target.setCurrent(copy);
      current = await target.currentRev();
      if (sha256Hex(encodeCanonical(await target.current())) !== copiedDigests.get(copy))
        throw new StateKeeperError(
          "E_CORRUPT",
          `the target's current does not read back as ${sourcePointer.rev}`,
          {
            details: { rev: sourcePointer.rev },
          },
        );
    }
    return { copied: revs.length, alreadyPresent: 0, renamed, current };
  }

  const after = await sourceInternals.currentPointer();
  const { current, ...counts } = { current: sourcePointer?.rev ?? null, ...result };
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
