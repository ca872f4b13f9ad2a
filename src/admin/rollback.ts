import type { Backend } from "../backend/index.js";
import { hasErrorCode } from "../errors.js";
import { type LockedAdminOptions, runLocked } from "./common.js";

export interface RollbackOptions extends Pick<LockedAdminOptions, "lock" | "signal" | "onWarning"> {
  /**
   * Commit even though the current revision fails verification or cannot be opened with the
   * backend's key (it is replaced; history keeps it). Default false.
   */
  repair?: boolean;
}

export interface RollbackResult {
  /** The new current rev (`from` when `unchanged`). */
  rev: string;
  /** The revision whose content was committed. */
  from: string;
  /** The current rev before, or null when there was none (or, with `repair`, it was unreadable). */
  previous: string | null;
  /** True when `from` was already current: nothing was committed. */
  unchanged: boolean;
}

/**
 * A rollback, as `statekeeper rollback` and the web view run it: under the stack lock, a NEW
 * revision with the content of an older one (history is never rewritten). `target` names that
 * revision and is called once the lock is held (`current~N` must be resolved under it).
 */
export function rollbackStack(
  backend: Backend,
  target: () => Promise<string>,
  options: RollbackOptions = {},
): Promise<RollbackResult> {
  const repair = options.repair === true;
  return runLocked(backend, "rollback", options, async () => {
    // A repair names its target explicitly: `current~N` needs a current that can be read.
    const from = await target();
    const previous = repair ? await pointerRevOrNull(backend) : await currentOrNull(backend);
    const snapshot = await backend.get(from);
    if (from === previous && !repair) return { rev: from, from, previous, unchanged: true };
    return {
      rev: await backend.commit(snapshot, { replaceUnreadableCurrent: repair }),
      from,
      previous,
      unchanged: false,
    };
  });
}

async function currentOrNull(backend: Backend): Promise<string | null> {
  try {
    return await backend.currentRev();
  } catch (e) {
    if (hasErrorCode(e, "E_NO_CURRENT")) return null;
    throw e;
  }
}

/** The rev `current` names, or null: for a repair, whose pointer may be unreadable. */
async function pointerRevOrNull(backend: Backend): Promise<string | null> {
  try {
    return await backend.currentRev();
  } catch (e) {
    if (hasErrorCode(e, "E_NO_CURRENT", "E_CORRUPT")) return null;
    throw e;
  }
}
