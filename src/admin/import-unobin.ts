import type { Backend } from "../backend/index.js";
import { backendInternals } from "../backend/internals.js";
import { sha256Hex } from "../backend/layout.js";
import { inspectEnvelope } from "../crypto/envelope.js";
import { hasErrorCode, StateKeeperError, truncateForMessage } from "../errors.js";
import { validateKey } from "../objectstore/kit.js";
import { encodeSnapshot } from "../snapshot/index.js";
import type { UnobinShape } from "../snapshot/unobin.js";
import { statekeeperSnapshotOf, type UnobinStoredAs } from "../unobin/convert.js";
import type { UnobinSealing, UnobinStack } from "../unobin/stack.js";
import {
  type AdminProgress,
  checkpoint,
  type LockedAdminOptions,
  nameOf,
  progressOf,
  runLocked,
} from "./common.js";

export type ImportUnobinPhase = "reading" | "comparing" | "importing" | "verifying";
export type ImportUnobinProgress = AdminProgress<ImportUnobinPhase>;
export type ImportUnobinOptions = LockedAdminOptions<ImportUnobinPhase>;

export interface ImportUnobinReport {
  factory: string;
  stack: string;
  /** Revisions in the unobin stack (all of them are in the target now, under the same rev names). */
  revisions: number;
  imported: number;
  alreadyPresent: number;
  /** unobin's current rev when the import started, now the target's; null when unobin had none. */
  current: string | null;
  /** Revisions per unobin snapshot shape. */
  shapes: Record<UnobinShape, number>;
  /** Revisions stored as statekeeper entries, and kept byte for byte as unobin documents. */
  storedAs: Record<UnobinStoredAs, number>;
  /** Revisions per sealing: the encrypter's bytes as they are, or in unobin's JSON state envelope. */
  sealing: Record<UnobinSealing, number>;
  /** The unobin encrypter that opened them (`noop`, `env-key env-var NAME`): never the key. */
  openedWith: string;
  /** Every revision and the target's current read back identical. */
  verified: true;
  /** unobin's current moved, or its lock was taken, during the import: run it again to take the rest. */
  sourceAdvanced: boolean;
}

function conflict(message: string): StateKeeperError {
  return new StateKeeperError("E_CONFLICT", `refusing to import: ${message}`);
}

function lockedBy(source: UnobinStack, holder: string): StateKeeperError {
  return new StateKeeperError(
    "E_LOCKED",
    `unobin's lock on ${source.factory}/${source.stack} is held by ${holder}: a unobin run may be writing; ` +
      "import once it has finished (or, if the holder is gone, remove the lock with unobin's 'state force-unlock')",
    { details: { holder, factory: source.factory, stack: source.stack } },
  );
}

function isValidKey(rev: string): boolean {
  try {
    validateKey(rev, "revision");
    return true;
  } catch {
    return false;
  }
}

/**
 * Refuses a target whose stack location holds unobin's files rather than statekeeper's: the
 * target store is the unobin folder or bucket itself (under another URL spelling). Checked before
 * the target is locked, since taking statekeeper's lock writes `lock` and fences `current` there.
 */
async function assertNotUnobinItself(target: Backend, name: string): Promise<void> {
  const refuse = (what: string) =>
    new StateKeeperError(
      "E_INVALID_ARGUMENT",
      `refusing to import: the target ${name} holds ${what}, not statekeeper's; is the target store unobin's own folder or bucket? ` +
        "Import into another store (the source is never written)",
    );
  const internals = backendInternals(target);
  const [first] = await target.list();
  if (first !== undefined) {
    try {
      inspectEnvelope(await internals.readSealed(first));
    } catch (e) {
      if (hasErrorCode(e, "E_CORRUPT", "E_FORMAT_VERSION")) throw refuse(`revision files (${first})`);
      throw e;
    }
  }
  try {
    await internals.currentPointer();
  } catch (e) {
    if (hasErrorCode(e, "E_CORRUPT")) throw refuse("a current pointer");
    throw e;
  }
}

async function plaintextDigest(backend: Backend, rev: string): Promise<string> {
  return sha256Hex(encodeSnapshot(await backend.get(rev)));
}

/**
 * Imports a stack unobin's localstate or s3state wrote (`source`, see `openUnobinStack`) into
 * `target`, a statekeeper backend of the same factory/stack on any store, whose encrypter seals
 * the copy: every revision under its own rev name, each recording its chronological predecessor
 * as parent (unobin records none; its runs wrote and then moved `current`, one revision at a
 * time), then the current pointer.
 *
 * Refused before anything is written: unobin's lock held (`E_LOCKED`, naming the holder); a
 * revision that does not open with the given encrypter (`E_DECRYPT`), is not a snapshot unobin
 * wrote or has a shape this build does not know (`E_CORRUPT`, `E_FORMAT_VERSION`, naming the
 * revision and what it saw); `current` naming a revision that is not there (`E_CORRUPT`); a
 * target with revisions unobin lacks, or the same rev with other content (`E_CONFLICT`). Every
 * imported revision is read back and compared before the target's current is moved, and the
 * current afterwards. Re-running imports only what is missing. The source is only ever read.
 */
export async function importUnobinStack(
  source: UnobinStack,
  target: Backend,
  options: ImportUnobinOptions = {},
): Promise<ImportUnobinReport> {
  if (source.factory !== target.factory || source.stack !== target.stack)
    throw new StateKeeperError(
      "E_INVALID_ARGUMENT",
      `importUnobinStack: the target is ${nameOf(target)}, not ${source.factory}/${source.stack}; an import keeps the factory and stack`,
    );
  const targetInternals = backendInternals(target);
  const name = `${source.factory}/${source.stack}`;
  const what = `import of ${name}`;
  const { signal } = options;
  const progress = progressOf(options.onProgress);
  checkpoint(what, signal);

  if ((await targetInternals.headMode()) === "log")
    throw new StateKeeperError(
      "E_INVALID_ARGUMENT",
      `refusing to import into ${name}: it is (or, being new, would be) headed by a log, where revisions are named ` +
        "by their place, not unobin's names; import into a stack with a current pointer " +
        '(createBackend(store, { head: "pointer", … }); statekeeper import does so itself), then migrate it into a log',
    );
  const holder = await source.lockHolder();
  if (holder !== undefined) throw lockedBy(source, holder);
  const sourceCurrent = await source.currentRev();
  const revs = await source.revisions();
  if (revs.length === 0)
    throw new StateKeeperError(
      "E_NOT_FOUND",
      `nothing to import: unobin has no snapshots for ${name} in ${source.store.name}`,
      { details: { factory: source.factory, stack: source.stack } },
    );
  if (sourceCurrent !== undefined && !revs.includes(sourceCurrent))
    throw new StateKeeperError(
      "E_CORRUPT",
      `unobin's current for ${name} names revision ${JSON.stringify(truncateForMessage(sourceCurrent))}, which has no snapshot`,
      { details: { rev: sourceCurrent } },
    );

  // unobin names revisions by its clock; a file name statekeeper cannot keep as a rev is refused
  // here, by name, rather than renamed: the rev names are how both tools' users find revisions.
  const unkeepable = revs.find((rev) => rev.startsWith(".") || !isValidKey(rev));
  if (unkeepable !== undefined)
    throw new StateKeeperError(
      "E_INVALID_NAME",
      `unobin's snapshot ${JSON.stringify(`${unkeepable}.json.enc`)} cannot keep its name as a statekeeper revision; move it aside and import again`,
      { details: { rev: unkeepable } },
    );

  // Everything is opened and mapped before anything is written: a refusal leaves no partial copy.
  // Only digests are kept, so memory stays that of one revision.
  const digests = new Map<string, string>();
  const shapes: Record<UnobinShape, number> = { documented: 0, "module-call": 0, "factory-stack": 0 };
  const storedAs: Record<UnobinStoredAs, number> = { native: 0, document: 0 };
  const sealing: Record<UnobinSealing, number> = { raw: 0, envelope: 0 };
  const mapped = async (rev: string) => {
    const revision = await source.read(rev);
    return { revision, ...statekeeperSnapshotOf(revision, source.factory, source.stack) };
  };
  progress("reading", 0, revs.length);
  for (const [i, rev] of revs.entries()) {
    checkpoint(what, signal);
    const { revision, encoded, storedAs: form } = await mapped(rev);
    digests.set(rev, sha256Hex(encoded));
    shapes[revision.view.shape] += 1;
    storedAs[form] += 1;
    sealing[revision.sealing] += 1;
    progress("reading", i + 1, revs.length, { rev });
  }

  await assertNotUnobinItself(target, name);

  const result = await runLocked(target, "import", options, async (lock) => {
    const inSource = new Set(revs);
    const existing = await target.list();
    const foreign = existing.filter((r) => !inSource.has(r));
    if (foreign.length > 0)
      throw conflict(
        `the target ${name} already has ${foreign.length} revision(s) unobin's stack lacks (first: ${foreign[0]})`,
      );
    const targetPointer = await targetInternals.currentPointer();
    if (targetPointer !== undefined && !inSource.has(targetPointer.rev))
      throw conflict(`the target's current rev ${targetPointer.rev} is not in unobin's history`);

    const present = new Set(existing);
    progress("comparing", 0, existing.length);
    for (const [i, rev] of existing.entries()) {
      checkpoint(what, signal, lock);
      if ((await plaintextDigest(target, rev)) !== digests.get(rev))
        throw conflict(`revision ${rev} exists in the target with other content`);
      progress("comparing", i + 1, existing.length, { rev });
    }

    progress("importing", 0, revs.length);
    let parent: string | undefined;
    for (const [i, rev] of revs.entries()) {
      checkpoint(what, signal, lock);
      if (!present.has(rev)) {
        const { snapshot, encoded } = await mapped(rev);
        if (sha256Hex(encoded) !== digests.get(rev))
          throw conflict(`unobin's revision ${rev} changed during the import; run it again`);
        await targetInternals.importRevision(rev, snapshot, parent);
      }
      parent = rev;
      progress("importing", i + 1, revs.length, { rev });
    }

    progress("verifying", 0, revs.length);
    for (const [i, rev] of revs.entries()) {
      checkpoint(what, signal, lock);
      if ((await plaintextDigest(target, rev)) !== digests.get(rev))
        throw new StateKeeperError(
          "E_CORRUPT",
          `the import of revision ${rev} does not read back identical`,
          {
            details: { rev },
          },
        );
      progress("verifying", i + 1, revs.length, { rev });
    }

    if (sourceCurrent !== undefined) {
      // The last point to stop: after it, the target's current moves to the verified copy.
      checkpoint(what, signal, lock);
      if (targetPointer?.rev !== sourceCurrent) await target.setCurrent(sourceCurrent);
      if (sha256Hex(encodeSnapshot(await target.current())) !== digests.get(sourceCurrent))
        throw new StateKeeperError(
          "E_CORRUPT",
          `the target's current does not read back as ${sourceCurrent}`,
          {
            details: { rev: sourceCurrent },
          },
        );
    }
    return { imported: revs.length - present.size, alreadyPresent: present.size };
  });

  const [after, holderAfter] = await Promise.all([source.currentRev(), source.lockHolder()]);
  return {
    factory: source.factory,
    stack: source.stack,
    revisions: revs.length,
    ...result,
    current: sourceCurrent ?? null,
    shapes,
    storedAs,
    sealing,
    openedWith: source.encrypter.description,
    verified: true,
    sourceAdvanced: after !== sourceCurrent || holderAfter !== undefined,
  };
}
