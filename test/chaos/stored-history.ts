// Reads what the store holds, for the history checker, and runs the CLI's `verify` on it: the
// checker sees the store only through the library's own reads (list, get, current with its
// digest), and `verify` is the check an operator would run.
import { join } from "node:path";
import type { Backend } from "../../src/backend/index.js";
import { backendInternals } from "../../src/backend/internals.js";
import { isStateKeeperError } from "../../src/errors.js";
import { ROOT, runCollected } from "../cli/helpers.js";
import { CHAOS_FACTORY, CHAOS_KEY_ENV, CHAOS_STACK } from "../fixtures/chaos/stack.js";
import {
  canonical,
  type ReadFailure,
  type RevisionSummary,
  type StoredHistory,
  summarizeRevision,
} from "./history.js";

function failure(rev: string, e: unknown): ReadFailure {
  if (!isStateKeeperError(e)) throw e;
  return { rev, code: e.code, message: e.message };
}

/**
 * Every revision (opened through `get`, summarised at once), and `current` (through `current()`,
 * which verifies the digest). Integrity failures are returned for the checker to report; a store that cannot be
 * read at all throws.
 */
export async function readStoredHistory(backend: Backend, parallel = 8): Promise<StoredHistory> {
  const revs = await backend.list();
  const revisions = new Map<string, RevisionSummary>();
  const unreadable: ReadFailure[] = [];
  let next = 0;
  const reader = async () => {
    for (let i = next++; i < revs.length; i = next++) {
      const rev = revs[i] as string;
      try {
        revisions.set(rev, summarizeRevision((await backend.get(rev)).entries));
      } catch (e) {
        unreadable.push(failure(rev, e));
      }
    }
  };
  await Promise.all(Array.from({ length: parallel }, reader));

  let rev: string | undefined;
  try {
    rev = (await backendInternals(backend).currentPointer())?.rev;
    if (rev === undefined) return { revisions, unreadable, current: undefined };
    return { revisions, unreadable, current: { rev, entries: (await backend.current()).entries } };
  } catch (e) {
    return { revisions, unreadable, current: { rev, error: failure(rev ?? "current", e) } };
  }
}

/**
 * For a revision that is not its parent plus one entry: which entries differ, read again from
 * the store (the checker keeps only digests).
 */
export async function describeDifference(
  backend: Backend,
  rev: string,
  parent: string | undefined,
): Promise<string> {
  const texts = async (r: string | undefined) =>
    new Map(r === undefined ? [] : (await backend.get(r)).entries.map((e) => [e.address, canonical(e)]));
  const mine = await texts(rev);
  const theirs = await texts(parent);
  const list = (xs: string[]) =>
    `[${xs.slice(0, 8).join(", ")}${xs.length > 8 ? `, … ${xs.length} in all` : ""}]`;
  const missing = [...theirs.keys()].filter((a) => !mine.has(a));
  const added = [...mine.keys()].filter((a) => !theirs.has(a));
  const changed = [...mine.keys()].filter((a) => theirs.has(a) && theirs.get(a) !== mine.get(a));
  return `${rev} vs ${parent ?? "nothing"}: missing ${list(missing)}, added ${list(added)}, changed ${list(changed)}`;
}

export interface VerifyOutcome {
  code: number | null;
  /** `verify --json` output, when it printed any. */
  json: { ok?: boolean; revisions?: number; orphans?: string[]; problems?: unknown[] } | undefined;
  stdout: string;
  stderr: string;
}

/**
 * `statekeeper verify --json` on the stack at `storeUrl`, as a child process (the built CLI,
 * bin/statekeeper.js → dist/). The key travels in the environment, never on the command line.
 */
export async function runVerify(storeUrl: string, key: string): Promise<VerifyOutcome> {
  const args = [
    join(ROOT, "bin", "statekeeper.js"),
    "--store",
    storeUrl,
    "--factory",
    CHAOS_FACTORY,
    "--stack",
    CHAOS_STACK,
    "--key-env",
    CHAOS_KEY_ENV,
    "verify",
    "--json",
  ];
  const { code, stdout, stderr } = await runCollected(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, [CHAOS_KEY_ENV]: key, NO_COLOR: "1" },
  });
  let json: VerifyOutcome["json"];
  try {
    json = JSON.parse(stdout) as VerifyOutcome["json"];
  } catch {
    json = undefined;
  }
  return { code, json, stdout, stderr };
}
