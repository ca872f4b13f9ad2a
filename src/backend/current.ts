import { hasErrorCode, StateKeeperError } from "../errors.js";
import { type ObjectCodec, TransactionalObject } from "../objectstore/transactional.js";
import type { ObjectStore } from "../objectstore/types.js";
import { encodeJsonObject, parseSmallObject } from "./layout.js";

/** The `current` pointer: which rev is current, and the digest of its sealed bytes. */
export interface CurrentPointer {
  rev: string;
  /** Hex SHA-256 of the sealed snapshot object, verified on every read. */
  sha256: string;
  /** A second accepted digest, only while `reseal` replaces the current rev's object. */
  alsoSha256?: string;
  size: number;
  /**
   * How many entries the revision holds, when the committer knew it without reading anything more
   * (absent in pointers written before it was recorded, and after some format-2 overlay commits):
   * lets a listing show counts without opening revisions.
   */
  entries?: number;
  updated: string;
  by: string;
}

/**
 * The fence in `current`: the lock whose holder alone may move the pointer. Every lock
 * acquisition bumps the epoch by compare-and-swap on `current` before the holder reads state, so
 * a write prepared under an earlier lock (its holder paused, its request delayed) fails its
 * precondition instead of landing after the takeover.
 */
export interface Fence {
  epoch: number;
  /** Id of the lock that raised this epoch. */
  lock: string;
  /** `user@host` of that lock's holder, and when it fenced. */
  by: string;
  at: string;
}

/**
 * What the `current` object holds. An unreadable pointer is kept as a value, not thrown, so a
 * lock can still fence it (preserving its bytes) and a repair can replace it; readers of the
 * pointer get its error.
 */
export interface CurrentState {
  /** Undefined when the stack has no current revision (never committed, or only fenced). */
  pointer: CurrentPointer | undefined;
  fence: Fence | undefined;
  /** Why the stored pointer cannot be trusted, with the text a fence keeps of it (base64). */
  unreadable?: { error: StateKeeperError; kept: string };
}

export const NO_CURRENT: CurrentState = { pointer: undefined, fence: undefined };

/** At most this much of an unreadable pointer is kept when a fence replaces it. */
const MAX_KEPT_UNREADABLE_BYTES = 16 * 1024;
const SHA256_HEX = /^[0-9a-f]{64}$/;

function decodeFence(key: string, raw: unknown): Fence | undefined {
  if (raw === undefined) return undefined;
  const f = raw as Record<string, unknown>;
  if (
    typeof raw !== "object" ||
    raw === null ||
    !Number.isSafeInteger(f.epoch) ||
    (f.epoch as number) < 1 ||
    typeof f.lock !== "string" ||
    f.lock === ""
  )
    throw new StateKeeperError("E_CORRUPT", `current pointer ${key} has a malformed fence`, {
      details: { key },
    });
  return {
    epoch: f.epoch as number,
    lock: f.lock,
    by: typeof f.by === "string" ? f.by : "",
    at: typeof f.at === "string" ? f.at : "",
  };
}

/**
 * Parses `current`, strictly. Empty, or without a `rev` (only fenced so far), means "no current
 * revision"; anything malformed is `E_CORRUPT`, and so is a pointer a fence found unreadable.
 */
export function decodeCurrent(key: string, bytes: Uint8Array): CurrentState {
  const o = parseSmallObject("current pointer", key, bytes);
  if (o === undefined) return NO_CURRENT;
  const fence = decodeFence(key, o.fence);
  if (typeof o.unreadable === "string")
    throw new StateKeeperError(
      "E_CORRUPT",
      `current pointer ${key} was unreadable when lock ${fence?.lock ?? "?"} fenced it (its original bytes are kept in the field "unreadable"); commit with a repair to replace it`,
      { details: { key } },
    );
  if (!("rev" in o) && !("sha256" in o)) return { pointer: undefined, fence };
  const { rev, sha256, alsoSha256, size, entries, updated, by } = o;
  if (typeof rev !== "string" || rev === "" || typeof sha256 !== "string" || !SHA256_HEX.test(sha256))
    throw new StateKeeperError("E_CORRUPT", `current pointer ${key} lacks a valid rev and sha256`, {
      details: { key },
    });
  const pointer: CurrentPointer = {
    rev,
    sha256,
    ...(typeof alsoSha256 === "string" && SHA256_HEX.test(alsoSha256) ? { alsoSha256 } : {}),
    size: typeof size === "number" ? size : -1,
    ...(Number.isSafeInteger(entries) && (entries as number) >= 0 ? { entries: entries as number } : {}),
    updated: typeof updated === "string" ? updated : "",
    by: typeof by === "string" ? by : "",
  };
  return { pointer, fence };
}

/** `decodeCurrent`, keeping an unreadable pointer as a value (see `CurrentState.unreadable`). */
function decodeTolerant(key: string, bytes: Uint8Array): CurrentState {
  try {
    return decodeCurrent(key, bytes);
  } catch (e) {
    if (!hasErrorCode(e, "E_CORRUPT")) throw e;
    let kept: string | undefined;
    try {
      // A pointer an earlier fence already found unreadable keeps what that fence kept.
      const o = JSON.parse(new TextDecoder().decode(bytes)) as { unreadable?: unknown };
      if (typeof o.unreadable === "string") kept = o.unreadable;
    } catch {
      // Not JSON: the raw bytes are kept below.
    }
    kept ??= Buffer.from(bytes.subarray(0, MAX_KEPT_UNREADABLE_BYTES)).toString("base64");
    return { pointer: undefined, fence: undefined, unreadable: { error: e, kept } };
  }
}

function encodeCurrent(state: CurrentState): Uint8Array {
  const p = state.pointer;
  const kept =
    state.unreadable !== undefined
      ? { unreadable: state.unreadable.kept }
      : p === undefined
        ? {}
        : {
            rev: p.rev,
            sha256: p.sha256,
            ...(p.alsoSha256 === undefined ? {} : { alsoSha256: p.alsoSha256 }),
            size: p.size,
            ...(p.entries === undefined ? {} : { entries: p.entries }),
            updated: p.updated,
            by: p.by,
          };
  return encodeJsonObject({ ...kept, ...(state.fence === undefined ? {} : { fence: state.fence }) });
}

/** The stack's `current` object, changed only by compare-and-swap. */
export function currentObject(store: ObjectStore, key: string): TransactionalObject<CurrentState> {
  const codec: ObjectCodec<CurrentState> = {
    decode: (body) => decodeTolerant(key, body),
    encode: (state) => encodeCurrent(state),
  };
  return new TransactionalObject(store, key, codec);
}

/** The pointer of a state, or its error when the stored pointer cannot be trusted. */
export function pointerOf(state: CurrentState): CurrentPointer | undefined {
  if (state.unreadable !== undefined) throw state.unreadable.error;
  return state.pointer;
}
