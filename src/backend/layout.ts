import { createHash } from "node:crypto";
import { StateKeeperError } from "../errors.js";
import { factoryKey } from "./names.js";

/**
 * Where a stack's objects live: `[<prefix>/]<factory>/<stack>/{current, lock, snapshots/<rev>.json.enc,
 * chunks/<id>}`, or, for a stack headed by a log, `{log/<segment>/<seq>, head, chunks/<id>}`. A revision is a snapshot (format 1) or a manifest over chunks (format 2), at the
 * same key either way; chunks are immutable and created once (see docs/design.md, "Storage format 2").
 * Names are validated before a layout is built, so every key here is a valid store key. A factory
 * name with `/` (`github.com/acme/webshop`) takes one key segment, `factoryKey` (`github.com~acme~webshop`),
 * here and in the sealed locations; a factory without `/` is its own segment, as it always was.
 */
export interface StackLayout {
  readonly base: string;
  readonly current: string;
  readonly lock: string;
  readonly snapshotsPrefix: string;
  snapshot(rev: string): string;
  /** The location sealed into a snapshot's envelope: moving the file to another stack or rev breaks it. */
  sealLocation(rev: string): string;
  readonly chunksPrefix: string;
  /** The key of a chunk of format-2 revisions. */
  chunk(id: string): string;
  /** The location sealed into a chunk's envelope: a chunk moved to another stack or id does not open. */
  chunkLocation(id: string): string;
  /** The folder of a log-headed stack's entries (see `StackLog`). */
  readonly logPrefix: string;
  /** The best-effort hint of where a log's head is. */
  readonly logHint: string;
  /** The location sealed into the revision a log entry carries: its stack and sequence number. */
  logLocation(seq: string): string;
}

export const SNAPSHOT_SUFFIX = ".json.enc";

export function stackLayout(prefix: string, factory: string, stack: string): StackLayout {
  const f = factoryKey(factory);
  const base = `${prefix}${f}/${stack}/`;
  return {
    base,
    current: `${base}current`,
    lock: `${base}lock`,
    snapshotsPrefix: `${base}snapshots/`,
    snapshot: (rev) => `${base}snapshots/${rev}${SNAPSHOT_SUFFIX}`,
    sealLocation: (rev) => `${f}/${stack}/snapshots/${rev}`,
    chunksPrefix: `${base}chunks/`,
    chunk: (id) => `${base}chunks/${id}`,
    chunkLocation: (id) => `${f}/${stack}/chunks/${id}`,
    logPrefix: `${base}log/`,
    logHint: `${base}head`,
    logLocation: (seq) => `${f}/${stack}/log/${seq}`,
  };
}

// Pointer and lock bodies are tiny; anything larger is not ours.
const MAX_SMALL_OBJECT_BYTES = 64 * 1024;

export function encodeJsonObject(value: object): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify(value)}\n`);
}

export function parseSmallObject(
  what: string,
  key: string,
  bytes: Uint8Array,
): Record<string, unknown> | undefined {
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

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}
