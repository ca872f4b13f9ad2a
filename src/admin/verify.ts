import type { Backend, HistoryEntry, StackHistory } from "../backend/index.js";
import { compareRevisions } from "../snapshot/index.js";
import {
  type AdminOptions,
  type AdminProgress,
  abortedError,
  checkpoint,
  nameOf,
  progressOf,
} from "./common.js";

export type VerifyPhase = "verifying";
export type VerifyProgress = AdminProgress<VerifyPhase>;

export interface VerifyOptions extends AdminOptions<VerifyPhase> {
  /** Revisions opened at once. Default 4. */
  concurrency?: number;
}

/** A revision (or `current` itself) that cannot be read as valid state. */
export interface VerifyProblem {
  rev: string;
  code: string;
  message: string;
}

export interface VerifyReport {
  factory: string;
  stack: string;
  /** No problems: every revision opens, and `current` names a revision whose digest matches. */
  ok: boolean;
  revisions: number;
  current: string | null;
  /** How many revisions each key id sealed (as their envelope headers say). */
  sealedWith: Record<string, number>;
  /**
   * Revisions written but never made current (a commit interrupted between its two steps, or
   * refused by the fence), oldest first. Not a problem: `current` never named them.
   */
  orphans: string[];
  problems: VerifyProblem[];
}

/**
 * Opens every revision of a stack and checks what `current` says: its pointer parses, it names
 * an existing revision whose sealed bytes match the recorded digest, and every revision opens
 * with the backend's encrypter and decodes as a valid snapshot. Findings are reported, not
 * thrown; a store failure (unreachable, denied) rejects the call, and so does an abort of
 * `signal` (`E_ABORTED`; verify only reads, so nothing is left half-done).
 *
 * The line of history is followed through the parent each revision records (the rev that was
 * current when it was written): revisions off that line are orphans. Revisions written before
 * parents were recorded cannot be placed; those older than `current` count as on the line.
 */
export async function verifyStack(backend: Backend, options: VerifyOptions = {}): Promise<VerifyReport> {
  const { signal } = options;
  const what = `verification of ${nameOf(backend)}`;
  checkpoint(what, signal);
  const progress = progressOf(options.onProgress);
  let history: StackHistory;
  try {
    history = await backend.history({
      open: true,
      onProgress: (done, total) => {
        if (done === 1) progress("verifying", 0, total);
        progress("verifying", done, total);
      },
      ...(signal === undefined ? {} : { signal }),
      ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
    });
  } catch (e) {
    if (signal?.aborted === true) throw abortedError(what, signal);
    throw e;
  }
  const { revisions, current } = history;
  const problems: VerifyProblem[] = [];
  if (history.currentProblem !== undefined) problems.push({ rev: "current", ...history.currentProblem });
  const sealedWith: Record<string, number> = {};
  for (const r of revisions) {
    if (r.sealedWith !== undefined) sealedWith[r.sealedWith] = (sealedWith[r.sealedWith] ?? 0) + 1;
    if (r.problem !== undefined) problems.push({ rev: r.rev, ...r.problem });
  }

  const byRev = new Map(revisions.map((r) => [r.rev, r]));
  let orphans: string[];
  if (current === null) {
    // No current: fine for revisions that were all meant to be a first commit. Any revision that
    // replaced another proves a commit once completed, so `current` has been removed since.
    const committedBefore = revisions.filter((r) => r.parentRevision !== "");
    if (history.currentProblem === undefined && committedBefore.length > 0)
      problems.push({
        rev: "current",
        code: "E_CORRUPT",
        message:
          `current is missing, but ${revisions.length} revision(s) exist and ${committedBefore.length} of them ` +
          "replaced an earlier current (was current deleted?); `statekeeper rollback --to <rev>` restores one",
      });
    orphans = committedBefore.length === 0 ? revisions.map((r) => r.rev) : [];
  } else {
    orphans = offTheLine(current, byRev, revisions);
  }
  return {
    factory: backend.factory,
    stack: backend.stack,
    ok: problems.length === 0,
    revisions: revisions.length,
    current,
    sealedWith,
    orphans,
    problems,
  };
}

/** Revisions not on the line from `current` back through recorded parents. */
function offTheLine(current: string, byRev: Map<string, HistoryEntry>, revisions: HistoryEntry[]): string[] {
  const line = new Set<string>();
  let unplaceableBefore: string | undefined;
  for (let rev: string | undefined = current; rev !== undefined && !line.has(rev); ) {
    const row = byRev.get(rev);
    if (row === undefined) break; // pruned: the line ends here, complete as far as it goes
    line.add(rev);
    if (row.parentRevision === undefined) {
      // Written before parents were recorded (or unreadable): older revisions cannot be placed.
      unplaceableBefore = rev;
      break;
    }
    rev = row.parentRevision === "" ? undefined : row.parentRevision;
  }
  return revisions
    .filter((r) => !line.has(r.rev))
    .filter((r) => unplaceableBefore === undefined || compareRevisions(r.rev, unplaceableBefore) > 0)
    .map((r) => r.rev);
}
