import type { Backend } from "../backend/index.js";
import { backendInternals, type ChunkSweep } from "../backend/internals.js";
import { StateKeeperError } from "../errors.js";
import {
  type AdminProgress,
  checkpoint,
  type LockedAdminOptions,
  nameOf,
  progressOf,
  runLocked,
} from "./common.js";

export type PrunePhase = "pruning" | "sweeping chunks";

/**
 * Chunks (storage format 2) no kept revision needs are deleted only once they are this old by the
 * store's clock: a commit in flight writes its chunks before the manifest that names them, and a
 * holder past its lease (30 s by default) is fenced, so a quarter of an hour leaves a wide margin.
 */
export const DEFAULT_CHUNK_GRACE_MS = 15 * 60 * 1000;
export type PruneProgress = AdminProgress<PrunePhase>;

export interface PruneOptions extends LockedAdminOptions<PrunePhase> {
  /** How many of the newest revisions to keep (the current one is kept in any case). */
  keep: number;
  /** Only plan: nothing is locked or deleted. Default false. */
  dryRun?: boolean;
  /** Age (store's clock) below which an unneeded chunk is kept. Default `DEFAULT_CHUNK_GRACE_MS`. */
  chunkGraceMs?: number;
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
  /** The garbage collection of format-2 chunks that followed (see `ChunkSweep`). */
  chunks: ChunkSweep;
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
 * Revisions are deleted unopened. Then the chunks of format-2 revisions that no remaining revision
 * needs, and that are older than `chunkGraceMs`, are deleted (mark and sweep; this needs the
 * encrypter to open the manifests, and is skipped, with the reason in `chunks.skipped`, when any
 * revision cannot be opened). An abort (or a lost lock) between two deletions stops there: every
 * revision is either whole or gone, a deleted chunk was needed by no remaining revision, and the
 * `E_ABORTED` error's `details.deleted` lists the revisions that went.
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
  const graceMs = options.chunkGraceMs ?? DEFAULT_CHUNK_GRACE_MS;
  if (!Number.isFinite(graceMs) || graceMs < 0)
    throw new StateKeeperError(
      "E_INVALID_ARGUMENT",
      `pruneStack: chunkGraceMs must be 0 or more milliseconds (got ${String(options.chunkGraceMs)})`,
    );
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
    const chunks = await backendInternals(backend).sweepChunks({
      graceMs,
      checkpoint: () => checkpoint(what, options.signal, lock, () => ({ deleted: [...deleted] })),
      onEach: (done, total) => progress("sweeping chunks", done, total),
    });
    return { dryRun: false, keep, current, deleted, kept, chunks };
  });
}
