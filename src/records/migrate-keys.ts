import type { Encrypter } from "../crypto/types.js";
import { hasErrorCode, type StateKeeperError, truncateForMessage } from "../errors.js";
import { describeHolder, holderOf } from "../lock/lease.js";
import { compareKeys } from "../objectstore/kit.js";
import { assertStoreSupported } from "../objectstore/probe.js";
import { TransactionalObject } from "../objectstore/transactional.js";
import { isStoreError, type ObjectStore } from "../objectstore/types.js";
import { serializeSorted } from "../snapshot/json.js";
import { normalizeRecordsPrefix, SPACES_LAYOUT, STATEKEEPER_LAYOUT } from "./keys.js";
import { decodeRecordLock } from "./locks.js";
import type { IaCState } from "./types.js";
import { decodeStoredBody, openRecordBytes, sealRecord } from "./validate.js";

/** What `migrateRecordKeys` reports after each record: feeds a progress bar (`phase`, `done`, `total`). */
export interface MigrateKeysProgress {
  phase: "scan" | "move";
  done: number;
  total: number;
}

export interface MigrateRecordKeysOptions {
  /** Folder of the records; default `"iac-state/"`. The records stay in it, under their new keys. */
  prefix?: string;
  /** Opens the records and seals their copies (bound to the new key); the original wrote plain JSON. */
  encrypter?: Encrypter;
  /** Only report what would move; nothing is written. */
  dryRun?: boolean;
  signal?: AbortSignal;
  onProgress?: (event: MigrateKeysProgress) => void;
}

/** A record left where it was, and why. */
export interface SkippedRecord {
  /** The record's id, when its body could be read. */
  id?: string;
  key: string;
  /** `E_LOCKED`, `E_ALREADY_EXISTS`, `E_CORRUPT`, `E_DECRYPT`, `E_CONFLICT`… */
  code: string;
  reason: string;
}

export interface MigrateRecordKeysReport {
  prefix: string;
  dryRun: boolean;
  /** Record objects (`.json`) found under the prefix. */
  scanned: number;
  /** Copied to the lossless key, read back and compared, then the Spaces-key object removed (or, in a dry run, what would be). */
  moved: { id: string; from: string; to: string }[];
  /**
   * Records only at their lossless key: an id of only `[A-Za-z0-9_-]` has the same key in both
   * layouts, or moved by an earlier run. A record at both keys (the copy an interrupted run left)
   * is counted once, where its source ends: `moved` or `skipped`.
   */
  alreadyLossless: number;
  /** Left in place; rerun once the reason is gone. */
  skipped: SkippedRecord[];
  /** True when nothing was skipped: every record is at its lossless key (or would be, in a dry run). */
  complete: boolean;
}

/** Attempts per record when the source changes between the copy and its removal. */
const MAX_ATTEMPTS = 3;

interface Source {
  id: string;
  key: string;
  to: string;
  etag: string;
  state: IaCState;
}

type Outcome = "moved" | "deferred" | SkippedRecord;

/**
 * Moves the records DigitalOcean's Spaces state store wrote (keys with `/` and `\` turned into
 * `_`) to statekeeper's lossless keys, in the same store and folder, so `openRecordStore` opens
 * them with the default layout.
 *
 * Verified and resumable: each record is copied create-only to its lossless key, read back and
 * compared with the source, and only then is the source removed — conditionally on the version
 * that was copied. A run stopped anywhere (crash, kill -9) leaves every record at its old key, at
 * both (the copy identical, and recognised as such by the next run), or moved. A record whose
 * lock is held (in either layout) is skipped, as is one whose lossless key holds a different
 * version of it; nothing is ever overwritten.
 */
export async function migrateRecordKeys(
  store: ObjectStore,
  options: MigrateRecordKeysOptions = {},
): Promise<MigrateRecordKeysReport> {
  const prefix = normalizeRecordsPrefix(options.prefix ?? "iac-state/");
  const { encrypter, signal, onProgress } = options;
  const dryRun = options.dryRun === true;

  const open = async (body: Uint8Array, key: string): Promise<IaCState> =>
    decodeStoredBody(await openRecordBytes(encrypter, body, key, key, { key }), key);
  const seal = (state: IaCState, key: string): Promise<Uint8Array> => sealRecord(encrypter, state, key);
  const same = (a: IaCState, b: IaCState) => serializeSorted(a, 0) === serializeSorted(b, 0);
  const contentProblem = (e: unknown) => hasErrorCode(e, "E_CORRUPT", "E_DECRYPT", "E_TOO_LARGE");

  // 1. Scan: every `.json` under the prefix, classified by where its body says it belongs.
  const skipped: SkippedRecord[] = [];
  const sources: Source[] = [];
  const atLossless = new Set<string>();
  const keys: string[] = [];
  for await (const info of store.list(prefix))
    if (SPACES_LAYOUT.classify(prefix, info.key).kind === "record") keys.push(info.key);
  let scannedCount = 0;
  for (const key of keys) {
    signal?.throwIfAborted();
    onProgress?.({ phase: "scan", done: scannedCount++, total: keys.length });
    const got = await store.get(key);
    if (got === undefined) continue;
    let state: IaCState;
    try {
      state = await open(got.body, key);
    } catch (e) {
      if (!contentProblem(e)) throw e;
      skipped.push({ key, code: (e as StateKeeperError).code, reason: (e as Error).message });
      continue;
    }
    const id = state.resource_id;
    let lossless: string;
    let spaces: string;
    try {
      lossless = STATEKEEPER_LAYOUT.recordKey(prefix, id);
      spaces = SPACES_LAYOUT.recordKey(prefix, id);
    } catch (e) {
      skipped.push({ id, key, code: "E_INVALID_NAME", reason: (e as Error).message });
      continue;
    }
    if (key === lossless) atLossless.add(id);
    else if (key === spaces) sources.push({ id, key, to: lossless, etag: got.etag, state });
    else
      skipped.push({
        id,
        key,
        code: "E_CORRUPT",
        reason: `names resource ${JSON.stringify(truncateForMessage(id))}, whose key is ${JSON.stringify(spaces)} (Spaces) or ${JSON.stringify(lossless)} (lossless), not this one`,
      });
  }
  onProgress?.({ phase: "scan", done: keys.length, total: keys.length });
  for (const src of sources) atLossless.delete(src.id);
  const alreadyLossless = atLossless.size;
  if (!dryRun && sources.length > 0) await assertStoreSupported(store);

  const lockHolder = async (id: string): Promise<string | undefined> => {
    for (const layout of [SPACES_LAYOUT, STATEKEEPER_LAYOUT]) {
      const key = layout.lockKey(prefix, id);
      const got = await store.get(key);
      if (got === undefined) continue;
      try {
        return describeHolder(holderOf(decodeRecordLock(key, got.body)));
      } catch {
        return `an unreadable lock (${key})`;
      }
    }
    return undefined;
  };

  /** Copies, verifies, and removes one source; "deferred" when its lossless key holds another, not yet moved, record. */
  const moveOne = async (src: Source): Promise<Outcome> => {
    const skip = (code: string, reason: string): SkippedRecord => ({
      id: src.id,
      key: src.key,
      code,
      reason,
    });
    const holder = await lockHolder(src.id);
    if (holder !== undefined) return skip("E_LOCKED", `locked by ${holder}; unlock it, then run again`);
    let copied: string | undefined; // etag of the copy this run wrote
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      // Copy (create-only), or recognise the copy an interrupted run left.
      const there = await store.get(src.to);
      let targetEtag: string;
      if (there === undefined) {
        if (dryRun) return "moved";
        try {
          targetEtag = (await store.put(src.to, await seal(src.state, src.to), { ifNoneMatch: "*" })).etag;
          copied = targetEtag;
        } catch (e) {
          if (isStoreError(e, "PRECONDITION_FAILED")) continue; // written meanwhile: look again
          throw e;
        }
      } else {
        let theirs: IaCState;
        try {
          theirs = await open(there.body, src.to);
        } catch (e) {
          if (!contentProblem(e)) throw e;
          return skip(
            "E_ALREADY_EXISTS",
            `its lossless key ${src.to} holds an unreadable object (${(e as Error).message})`,
          );
        }
        if (theirs.resource_id !== src.id) return "deferred";
        if (!same(theirs, src.state)) {
          if (dryRun || copied !== there.etag)
            return skip(
              "E_ALREADY_EXISTS",
              `its lossless key ${src.to} already holds a different version of this record; compare them, delete the one to drop, and run again`,
            );
          // Our own copy of a version that changed since: replace it, still conditionally.
          try {
            targetEtag = (await store.put(src.to, await seal(src.state, src.to), { ifMatch: there.etag }))
              .etag;
            copied = targetEtag;
          } catch (e) {
            if (isStoreError(e, "PRECONDITION_FAILED")) continue;
            throw e;
          }
        } else {
          if (dryRun) return "moved";
          targetEtag = there.etag;
        }
      }

      // Verify: read the copy back and compare it with the source.
      const back = await store.get(src.to);
      let verified = false;
      if (back !== undefined && back.etag === targetEtag) {
        try {
          const state = await open(back.body, src.to);
          verified = state.resource_id === src.id && same(state, src.state);
        } catch (e) {
          if (!contentProblem(e)) throw e;
        }
      }
      if (!verified) {
        if (back !== undefined && back.etag !== targetEtag) continue; // replaced meanwhile: look again
        return skip(
          "E_CORRUPT",
          `the copy at ${src.to} did not read back identical; the source was left in place`,
        );
      }

      // Remove the source, only the version that was copied.
      if (await rawObject(store, src.key).remove(src.etag)) return "moved";
      const now = await store.get(src.key);
      if (now === undefined) {
        // Deleted by its owner while we copied it: do not bring it back.
        if (copied !== undefined) await rawObject(store, src.to).remove(copied);
        return skip(
          "E_CONFLICT",
          "deleted at its Spaces key while it was being moved; its copy was removed too",
        );
      }
      try {
        const state = await open(now.body, src.key);
        if (state.resource_id !== src.id) return skip("E_CONFLICT", `${src.key} now holds another record`);
        src.state = state;
        src.etag = now.etag;
      } catch (e) {
        if (!contentProblem(e)) throw e;
        return skip((e as StateKeeperError).code, `changed while being moved and is now unreadable`);
      }
    }
    return skip("E_CONFLICT", `kept changing during ${MAX_ATTEMPTS} attempts to move it; run again`);
  };

  // 2. Move, in passes: a record whose lossless key holds another Spaces record (id `a%2Fb` at
  // `a%2Fb.json` is where `a/b` goes) waits until that one has moved on. Chains always end.
  const moved: MigrateRecordKeysReport["moved"] = [];
  let pending = sources;
  let done = 0;
  while (pending.length > 0) {
    const deferred: Source[] = [];
    for (const src of pending) {
      signal?.throwIfAborted();
      const outcome = await moveOne(src);
      if (outcome === "deferred") {
        deferred.push(src);
        continue;
      }
      if (outcome === "moved") moved.push({ id: src.id, from: src.key, to: src.to });
      else skipped.push(outcome);
      onProgress?.({ phase: "move", done: ++done, total: sources.length });
    }
    if (dryRun) {
      // A dry run moves nothing, so what blocks these is still there: it would move first.
      for (const src of deferred) moved.push({ id: src.id, from: src.key, to: src.to });
      break;
    }
    if (deferred.length === pending.length) {
      for (const src of deferred)
        skipped.push({
          id: src.id,
          key: src.key,
          code: "E_ALREADY_EXISTS",
          reason: `its lossless key ${src.to} holds another record that could not be moved`,
        });
      break;
    }
    pending = deferred;
  }
  onProgress?.({ phase: "move", done: sources.length, total: sources.length });
  moved.sort((a, b) => compareKeys(a.id, b.id));
  return {
    prefix,
    dryRun,
    scanned: keys.length,
    moved,
    alreadyLossless,
    skipped,
    complete: skipped.length === 0,
  };
}

/** An object as bytes, for `TransactionalObject.remove`: a delete of one version, on every store. */
function rawObject(store: ObjectStore, key: string): TransactionalObject<Uint8Array> {
  return new TransactionalObject<Uint8Array>(store, key, { decode: (body) => body, encode: (body) => body });
}
