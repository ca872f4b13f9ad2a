import type {
  Backend,
  HistoryEntry,
  HistoryOptions,
  RevisionContent,
  RevisionSummary,
  StackHistory,
} from "../backend/backend.js";
import { errorKind, StateKeeperError } from "../errors.js";
import { mapBounded } from "../internal/bounded.js";
import { diffCounted } from "../snapshot/diff.js";
import type { Snapshot } from "../snapshot/types.js";
import { statekeeperSnapshotOf } from "./convert.js";
import type { UnobinStack } from "./stack.js";

const HISTORY_CONCURRENCY = 4;

/**
 * A read-only `Backend` over a stack unobin's localstate or s3state wrote, in place: `current`,
 * `get`, `readRevision`, `list` and `history` read unobin's own files (each revision as
 * `importUnobinStack` would store it), so `history`, `show`, `diff` and `pull` work before
 * migrating. Everything that would write — commits, `setCurrent`, `delete`, locks — is refused
 * with `E_UNSUPPORTED_STORE` before any I/O: unobin's own runs keep writing there with their own
 * lock protocol, which statekeeper does not speak. `lockInfo` is refused too (unobin's marker holds
 * no lease); `statekeeper import` names a held unobin lock.
 *
 * unobin records no digest and no parent: the current revision is not verified against one, and
 * `parentRevision` is undefined.
 */
export function unobinReadOnlyBackend(source: UnobinStack): Backend {
  const name = `${source.factory}/${source.stack}`;
  const readOnly = (what: string) => async (): Promise<never> => {
    throw new StateKeeperError(
      "E_UNSUPPORTED_STORE",
      `${what}: the unobin layout is read-only here (history, show, diff and pull read it); ` +
        `import ${name} with 'statekeeper import' to write to it`,
      { details: { layout: "unobin" } },
    );
  };
  const currentRev = async (): Promise<string> => {
    const rev = await source.currentRev();
    if (rev === undefined)
      throw new StateKeeperError(
        "E_NO_CURRENT",
        `no current snapshot for ${name} (unobin's current is missing or empty)`,
        {
          details: { factory: source.factory, stack: source.stack },
        },
      );
    return rev;
  };
  const readRevision = async (rev: string): Promise<RevisionContent & { size: number }> => {
    const revision = await source.read(rev);
    const { snapshot } = statekeeperSnapshotOf(revision, source.factory, source.stack);
    return {
      rev,
      snapshot,
      parentRevision: undefined,
      sealedWith: `unobin ${source.encrypter.name}`,
      size: revision.size,
    };
  };
  const get = async (rev: string): Promise<Snapshot> => (await readRevision(rev)).snapshot;

  return {
    factory: source.factory,
    stack: source.stack,
    store: source.store,
    currentRev,
    current: async () => get(await currentRev()),
    get,
    readRevision,
    async revisionSummary(rev: string): Promise<RevisionSummary> {
      const opened = await readRevision(rev);
      return {
        rev,
        size: opened.size,
        sealedWith: opened.sealedWith,
        entries: opened.snapshot.entries.length,
        generatedAt: opened.snapshot.generatedAt,
        parentRevision: undefined,
      };
    },
    diff: async (from, to, options) => diffCounted(await get(from), await get(to), options),
    list: () => source.revisions(),
    async history(options: HistoryOptions = {}): Promise<StackHistory> {
      const [current, infos] = await Promise.all([source.currentRev(), source.revisionInfos()]);
      const revisions: HistoryEntry[] = infos.map((info) => ({ ...info, current: info.rev === current }));
      const history: StackHistory = { current: current ?? null, revisions };
      if (current !== undefined && !revisions.some((r) => r.current))
        history.currentProblem = {
          code: "E_CORRUPT",
          message: `unobin's current names revision ${current}, but that revision is missing`,
        };
      // unobin's revisions are whole snapshots: a summary opens them as fully as `open: true`.
      if (options.open !== true && options.open !== "summary") return history;
      let done = 0;
      await mapBounded(revisions, options.concurrency ?? HISTORY_CONCURRENCY, async (row) => {
        options.signal?.throwIfAborted();
        try {
          const opened = await readRevision(row.rev);
          row.sealedWith = opened.sealedWith;
          row.entries = opened.snapshot.entries.length;
          row.generatedAt = opened.snapshot.generatedAt;
        } catch (e) {
          if (!(e instanceof StateKeeperError) || errorKind(e) !== "integrity") throw e;
          row.problem = { code: e.code, message: e.message };
        }
        options.onProgress?.(++done, revisions.length);
      });
      return history;
    },
    write: readOnly("write"),
    setCurrent: readOnly("setCurrent"),
    commit: readOnly("commit"),
    commitChanges: readOnly("commitChanges"),
    delete: readOnly("delete"),
    lock: readOnly("lock"),
    resumeLock: readOnly("resumeLock"),
    forceUnlock: readOnly("forceUnlock"),
    lockInfo: readOnly("lockInfo"),
  };
}
