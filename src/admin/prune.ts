import type { Backend } from "../backend/index.js";
import { backendInternals } from "../backend/internals.js";
import { StateKeeperError } from "../errors.js";
import {
  type AdminProgress,
  checkpoint,
  type LockedAdminOptions,
  nameOf,
  progressOf,
  runLocked,
} from "./common.js";

export type PrunePhase = "pruning";
export type PruneProgress = AdminProgress<PrunePhase>;

export interface PruneOptions extends LockedAdminOptions<PrunePhase> {
  /** How many of the newest revisions to keep (the current one is kept in any case). */
  keep: number;
  /** Only plan: nothing is locked or deleted. Default false. */
  dryRun?: boolean;
}

interface PruneReportBase {
  keep: number;
  /** The current rev when the plan was made, or null. */
  current: string | null;
  /** Revisions that stay, oldest first. */
  kept: string[];
}

/** `pruneStack` with `dryRun`: what would be deleted. */
export interface PrunePlanReport extends PruneReportBase {
  dryRun: true;
  wouldDelete: string[];
}

/** `pruneStack` without `dryRun`: what was deleted. */
export interface PruneDoneReport extends PruneReportBase {
  dryRun: false;
  deleted: string[];
}

export type PruneReport = PrunePlanReport | PruneDoneReport;

/** The newest `keep` revisions and the current one stay; everything older goes. */
async function plan(
  backend: Backend,
  keep: number,
): Promise<{ current: string | null; drop: string[]; kept: string[] }> {
  const internals = backendInternals(backend);
  const [revs, pointer] = await Promise.all([backend.list(), internals.currentPointer()]);
  const current = pointer?.rev ?? null;
  const newest = new Set(keep === 0 ? [] : revs.slice(-keep));
  const kept = revs.filter((r) => newest.has(r) || r === current);
  const drop = revs.filter((r) => !newest.has(r) && r !== current);
  return { current, drop, kept };
}

/**
 * Deletes all but the newest `keep` revisions of a stack — never the current one, even when it is
 * older. Under the stack's lock, planned again there (someone may have pushed since a dry run).
 * Needs no encrypter: revisions are deleted unopened. An abort (or a lost lock) between two
 * deletions stops there: every revision is either whole or gone, and the `E_ABORTED` error's
 * `details.deleted` lists what went.
 */
export function pruneStack(
  backend: Backend,
  options: PruneOptions & { dryRun: true },
): Promise<PrunePlanReport>;
export function pruneStack(
  backend: Backend,
  options: PruneOptions & { dryRun?: false },
): Promise<PruneDoneReport>;
export function pruneStack(backend: Backend, options: PruneOptions): Promise<PruneReport>;
export async function pruneStack(backend: Backend, options: PruneOptions): Promise<PruneReport> {
  const { keep } = options;
  if (!Number.isSafeInteger(keep) || keep < 0)
    throw new StateKeeperError(
      "E_INVALID_ARGUMENT",
      `pruneStack: keep must be a whole number of revisions, 0 or more (got ${String(keep)})`,
    );
  const what = `prune of ${nameOf(backend)}`;
  if (options.dryRun === true) {
    checkpoint(what, options.signal);
    const { current, drop, kept } = await plan(backend, keep);
    return { dryRun: true, keep, current, wouldDelete: drop, kept };
  }
  checkpoint(what, options.signal);
  const progress = progressOf(options.onProgress);
  return runLocked(backend, "prune", options, async (lock) => {
    const { current, drop, kept } = await plan(backend, keep);
    const deleted: string[] = [];
    progress("pruning", 0, drop.length);
    for (const rev of drop) {
      checkpoint(what, options.signal, lock, () => ({ deleted: [...deleted] }));
      await backend.delete(rev);
      deleted.push(rev);
      progress("pruning", deleted.length, drop.length, { rev });
    }
    return { dryRun: false, keep, current, deleted, kept };
  });
}
