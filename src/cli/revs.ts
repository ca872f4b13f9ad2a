import type { Backend } from "../backend/index.js";
import { hasErrorCode, StateKeeperError } from "../errors.js";
import { parseRevision } from "../snapshot/index.js";

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

/** The instant a rev names, as ISO-8601 with milliseconds (revs are UTC timestamps). */
export function revTime(rev: string): string | null {
  const parsed = parseRevision(rev);
  if (parsed === undefined) return null;
  return new Date(Number(parsed.epochNanos / 1_000_000n)).toISOString();
}

/** "5s ago", "3m ago", "2h ago", "4d ago". */
export function age(iso: string | null, now = Date.now()): string {
  if (iso === null) return "?";
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}
