import { createHash } from "node:crypto";
import { hostname, userInfo } from "node:os";
import { type LockHolder, StateKeeperError } from "../errors.js";

/**
 * Where a stack's objects live: `[<prefix>/]<factory>/<stack>/{current, lock, snapshots/<rev>.json.enc}`.
 * Names are validated before a layout is built, so every key here is a valid store key.
 */
export interface StackLayout {
  readonly base: string;
  readonly current: string;
  readonly lock: string;
  readonly snapshotsPrefix: string;
  snapshot(rev: string): string;
  /** The location sealed into a snapshot's envelope: moving the file to another stack or rev breaks it. */
  sealLocation(rev: string): string;
}

export const SNAPSHOT_SUFFIX = ".json.enc";

export function stackLayout(prefix: string, factory: string, stack: string): StackLayout {
  const base = `${prefix}${factory}/${stack}/`;
  return {
    base,
    current: `${base}current`,
    lock: `${base}lock`,
    snapshotsPrefix: `${base}snapshots/`,
    snapshot: (rev) => `${base}snapshots/${rev}${SNAPSHOT_SUFFIX}`,
    sealLocation: (rev) => `${factory}/${stack}/snapshots/${rev}`,
  };
}

/** The `current` pointer: which rev is current, and the digest of its sealed bytes. */
export interface CurrentPointer {
  rev: string;
  /** Hex SHA-256 of the sealed snapshot object, verified on every read. */
  sha256: string;
  /** A second accepted digest, only while `reseal` replaces the current rev's object. */
  alsoSha256?: string;
  size: number;
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

/** What the `current` object holds. */
export interface CurrentObject {
  /** Undefined when the stack has no current revision (never committed, or only fenced). */
  pointer: CurrentPointer | undefined;
  fence: Fence | undefined;
}

// Pointer and lock bodies are tiny; anything larger is not ours.
const MAX_SMALL_OBJECT_BYTES = 64 * 1024;

export function encodeJsonObject(value: object): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify(value)}\n`);
}

function parseSmallObject(what: string, key: string, bytes: Uint8Array): Record<string, unknown> | undefined {
  if (bytes.byteLength > MAX_SMALL_OBJECT_BYTES)
    throw new StateKeeperError(
      "E_CORRUPT",
      `${what} ${key} is ${bytes.byteLength} bytes, more than any valid ${what}`,
      {
        details: { key },
      },
    );
  const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes).trim();
  if (text === "") return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new StateKeeperError("E_CORRUPT", `${what} ${key} is not valid JSON`, { cause, details: { key } });
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    throw new StateKeeperError("E_CORRUPT", `${what} ${key} is not a JSON object`, { details: { key } });
  return parsed as Record<string, unknown>;
}

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
 * Parses `current`. Empty, or without a `rev` (only fenced so far), means "no current revision";
 * anything malformed is `E_CORRUPT`, and so is a pointer a fence found unreadable (its original
 * bytes are kept in `unreadable`, base64, for the operator).
 */
export function decodeCurrentObject(key: string, bytes: Uint8Array): CurrentObject {
  const o = parseSmallObject("current pointer", key, bytes);
  if (o === undefined) return { pointer: undefined, fence: undefined };
  const fence = decodeFence(key, o.fence);
  if (typeof o.unreadable === "string")
    throw new StateKeeperError(
      "E_CORRUPT",
      `current pointer ${key} was unreadable when lock ${fence?.lock ?? "?"} fenced it (its original bytes are kept in the field "unreadable"); commit with a repair to replace it`,
      { details: { key } },
    );
  if (!("rev" in o) && !("sha256" in o)) return { pointer: undefined, fence };
  const { rev, sha256, alsoSha256, size, updated, by } = o;
  if (typeof rev !== "string" || rev === "" || typeof sha256 !== "string" || !/^[0-9a-f]{64}$/.test(sha256))
    throw new StateKeeperError("E_CORRUPT", `current pointer ${key} lacks a valid rev and sha256`, {
      details: { key },
    });
  const pointer: CurrentPointer = {
    rev,
    sha256,
    ...(typeof alsoSha256 === "string" && /^[0-9a-f]{64}$/.test(alsoSha256) ? { alsoSha256 } : {}),
    size: typeof size === "number" ? size : -1,
    updated: typeof updated === "string" ? updated : "",
    by: typeof by === "string" ? by : "",
  };
  return { pointer, fence };
}

/** The pointer alone (see `decodeCurrentObject`). */
export function decodeCurrentPointer(key: string, bytes: Uint8Array): CurrentPointer | undefined {
  return decodeCurrentObject(key, bytes).pointer;
}

/** What a lock object records: the holder, and the lease the holder promised to renew within. */
export interface LockRecord extends LockHolder {
  leaseMs: number;
  /** Bumped on every renewal, so a renewal always changes the object (and its etag) on every store. */
  renewals: number;
}

export function decodeLockRecord(key: string, bytes: Uint8Array): LockRecord {
  const o = parseSmallObject("lock", key, bytes);
  if (o === undefined) throw new StateKeeperError("E_CORRUPT", `lock ${key} is empty`, { details: { key } });
  const { id, who, host, pid, operation, created, leaseMs, renewals } = o;
  if (
    typeof id !== "string" ||
    id === "" ||
    typeof leaseMs !== "number" ||
    !Number.isFinite(leaseMs) ||
    leaseMs <= 0
  )
    throw new StateKeeperError("E_CORRUPT", `lock ${key} lacks a valid id and leaseMs`, { details: { key } });
  return {
    id,
    who: typeof who === "string" ? who : "unknown",
    host: typeof host === "string" ? host : "unknown",
    pid: typeof pid === "number" ? pid : 0,
    operation: typeof operation === "string" ? operation : "unknown",
    created: typeof created === "string" ? created : "unknown",
    leaseMs,
    renewals: typeof renewals === "number" ? renewals : 0,
  };
}

/** `user@host` of this process, without failing where the user database is unavailable. */
export function whoAmI(): { who: string; host: string } {
  const host = hostname();
  let user = process.env.USER ?? process.env.USERNAME ?? "unknown";
  try {
    user = userInfo().username;
  } catch {
    // Containers without a passwd entry: keep the environment's answer.
  }
  return { who: `${user}@${host}`, host };
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}
