import type { Backend } from "../backend/index.js";
import { hasErrorCode, StateKeeperError } from "../errors.js";

/**
 * A rev as the operator wrote it: an exact rev, `current` (or nothing), or `current~N` for the
 * N-th revision before the current one in history order.
 */
export async function resolveRev(backend: Backend, given: string | undefined): Promise<string> {
  if (given === undefined || given === "current") return backend.currentRev();
  const back = /^current~(\d+)$/.exec(given);
  if (back === null) return given;
  const steps = Number(back[1]);
  const [current, revs] = await Promise.all([backend.currentRev(), backend.list()]);
  const at = revs.indexOf(current);
  const target = revs[at - steps];
  if (at < 0 || target === undefined)
    throw new StateKeeperError(
      "E_NOT_FOUND",
      `${given}: there are only ${Math.max(at, 0)} revisions before the current one`,
    );
  return target;
}

/** The current rev, or null for a stack that has none yet. */
export async function currentOrNull(backend: Pick<Backend, "currentRev">): Promise<string | null> {
  try {
    return await backend.currentRev();
  } catch (e) {
    if (hasErrorCode(e, "E_NO_CURRENT")) return null;
    throw e;
  }
}
