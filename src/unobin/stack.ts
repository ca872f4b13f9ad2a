import type { RevisionInfo } from "../backend/backend.js";
import { validateFactoryName, validateName } from "../backend/names.js";
import { decodeStrictBase64 } from "../crypto/envelope.js";
import { StateKeeperError, truncateForMessage } from "../errors.js";
import type { ObjectStore } from "../objectstore/types.js";
import { isPlainObject, own } from "../snapshot/json.js";
import { compareRevisions } from "../snapshot/revision.js";
import { type UnobinSnapshotView, unobinView } from "../snapshot/unobin.js";
import type { UnobinEncrypter } from "./encrypters.js";

/**
 * One stack as unobin's `localstate` (a folder) and `s3state` (a bucket) lay it out, read through
 * statekeeper's object stores, never written:
 *
 * ```
 * <factory>/<stack>/
 *   current                 the current rev and a newline (Go `SetCurrent`)
 *   lock                    while held: localstate the holder's pid and a newline,
 *                           s3state {"id","who","created"} (Go `Lock`)
 *   snapshots/<rev>.json.enc
 * ```
 *
 * The store's root (a `file:` folder) or prefix (`s3://bucket/prefix`) is unobin's `path` or
 * `prefix`. A snapshot file is either what the encrypter returned (unobin before its state
 * envelope, pkg/state/local.go `Write`), or that wrapped in unobin's JSON state envelope
 * `{"envelope-version": 1, "payload-type"?: "state", "encrypter"?: {"name", "body"}, "ciphertext":
 * base64}` (pkg/sdk/state/envelope.go `Seal`, from commit 07ad449e); both are read.
 */

const SNAPSHOT_SUFFIX = ".json.enc";
// `current` and `lock` hold a rev or a pid; anything much larger is not unobin's.
const MAX_MARKER_BYTES = 64 * 1024;

export interface UnobinStackOptions {
  factory: string;
  stack: string;
  /** The encrypter unobin sealed the snapshots with: the reader never lets a file choose it. */
  encrypter: UnobinEncrypter;
}

/** How a snapshot file was sealed. */
export type UnobinSealing = "raw" | "envelope";

/** One revision read and opened. */
export interface UnobinRevision {
  rev: string;
  /** The snapshot JSON exactly as unobin encoded it. */
  text: string;
  sealing: UnobinSealing;
  view: UnobinSnapshotView;
  /** Bytes of the stored (sealed) file. */
  size: number;
}

export interface UnobinStack {
  readonly factory: string;
  readonly stack: string;
  readonly store: ObjectStore;
  readonly encrypter: UnobinEncrypter;
  /** The rev `current` names, or `undefined` when there is none (missing, or empty after trimming, as unobin reads it). */
  currentRev(): Promise<string | undefined>;
  /** Every rev with a snapshot file, oldest first (statekeeper's revision order). */
  revisions(): Promise<string[]>;
  /** `revisions()` with each snapshot file's size and time, from the same single listing. */
  revisionInfos(): Promise<RevisionInfo[]>;
  /** Who holds unobin's lock (`pid 4242`, `alice@ci-7 since …`), or `undefined` when it is free. */
  lockHolder(): Promise<string | undefined>;
  /** One revision, opened with the configured encrypter and read as one of unobin's shapes. */
  read(rev: string): Promise<UnobinRevision>;
}

/** `s` JSON-quoted (control characters escaped) and shortened, for a message. */
function quoted(s: string, max: number): string {
  return JSON.stringify(truncateForMessage(s, max));
}

/** `s` as it is when it is a plain name (letters, digits, `_.-`), else quoted. */
function plainName(s: string, max: number): string {
  return /^[A-Za-z0-9_.-]{1,80}$/.test(s) ? s : quoted(s, max);
}

function corrupt(message: string, details: Record<string, unknown>): never {
  throw new StateKeeperError("E_CORRUPT", message, { details });
}

function decodeUtf8(bytes: Uint8Array, what: string, key: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return corrupt(`unobin's ${what} ${key} is not UTF-8 text`, { key, rule: "json" });
  }
}

/** The lock marker's holder, in words: the marker never holds a secret, but may hold anything. */
function describeLock(bytes: Uint8Array): string {
  const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes.subarray(0, 4096)).trim();
  if (/^\d{1,10}$/.test(text)) return `pid ${text} (unobin localstate lock marker)`;
  try {
    const parsed: unknown = JSON.parse(text);
    if (isPlainObject(parsed)) {
      const who = own(parsed, "who");
      const created = own(parsed, "created");
      if (typeof who === "string" && who !== "")
        return `${quoted(who, 200)}${typeof created === "string" ? ` since ${quoted(created, 40)}` : ""} (unobin s3state lock marker)`;
    }
  } catch {
    // Not JSON: described by its size below.
  }
  return `an unrecognised lock marker of ${bytes.byteLength} bytes`;
}

/** Parses unobin's state envelope, or `undefined` when the bytes are not one (a raw sealed file). */
function parseEnvelope(
  bytes: Uint8Array,
  key: string,
): { ciphertext: Uint8Array; sealedWith: { name: string; envVar?: string } | undefined } | undefined {
  if (bytes[0] !== 0x7b) return undefined; // "{"
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return undefined;
  }
  if (!isPlainObject(doc) || own(doc, "envelope-version") === undefined) return undefined;
  const version = own(doc, "envelope-version");
  if (version !== 1)
    throw new StateKeeperError(
      "E_FORMAT_VERSION",
      `unobin's state envelope ${key} has envelope-version ${quoted(JSON.stringify(version) ?? "?", 20)} (unobin wrote 1)`,
      { details: { key } },
    );
  const payloadType = own(doc, "payload-type");
  if (payloadType !== undefined && payloadType !== "state")
    corrupt(
      `unobin envelope ${key} holds a ${truncateForMessage(String(payloadType), 20)}, not a state snapshot`,
      {
        key,
      },
    );
  const raw = own(doc, "ciphertext");
  const ciphertext = typeof raw === "string" ? decodeStrictBase64(raw) : undefined;
  if (ciphertext === undefined) corrupt(`unobin envelope ${key}: ciphertext is not base64`, { key });
  const ref = own(doc, "encrypter");
  let sealedWith: { name: string; envVar?: string } | undefined;
  if (isPlainObject(ref) && typeof own(ref, "name") === "string") {
    const body = own(ref, "body");
    const envVar = isPlainObject(body) ? own(body, "env-var") : undefined;
    sealedWith = {
      name: own(ref, "name") as string,
      ...(typeof envVar === "string" ? { envVar } : {}),
    };
  }
  return { ciphertext, sealedWith };
}

function describeSealedWith(s: { name: string; envVar?: string }): string {
  // What the envelope records is not trusted to be printable: quoted unless it is a plain name.
  const name = plainName(s.name, 40);
  return s.envVar === undefined ? name : `${name} env-var ${plainName(s.envVar, 80)}`;
}

function looksLikeUnobinJson(bytes: Uint8Array): boolean {
  if (bytes[0] !== 0x7b) return false;
  try {
    const doc: unknown = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
    return isPlainObject(doc) && own(doc, "format-version") !== undefined;
  } catch {
    return false;
  }
}

/** Opens a snapshot file with `encrypter`: its plaintext, and how it was sealed. */
function openSnapshotFile(
  bytes: Uint8Array,
  key: string,
  rev: string,
  encrypter: UnobinEncrypter,
): { plaintext: Uint8Array; sealing: UnobinSealing } {
  const envelope = parseEnvelope(bytes, key);
  const sealing: UnobinSealing = envelope === undefined ? "raw" : "envelope";
  const sealedWith = envelope?.sealedWith;
  if (sealedWith !== undefined && sealedWith.name !== encrypter.name)
    throw new StateKeeperError(
      "E_DECRYPT",
      `cannot open unobin revision ${rev}: it was sealed with ${describeSealedWith(sealedWith)}, ` +
        `but the unobin encrypter given is ${encrypter.description}` +
        (sealedWith.name === "noop" || sealedWith.name === "env-key"
          ? ""
          : " (this build reads unobin's noop and env-key encrypters only)"),
      { details: { rev, sealedWith: sealedWith.name, given: encrypter.name } },
    );
  const sealed = envelope?.ciphertext ?? bytes;
  const plaintext = encrypter.decrypt(sealed);
  if (plaintext === undefined) {
    const why =
      sealing === "raw" && looksLikeUnobinJson(bytes)
        ? "the file is plain JSON (unobin's noop encrypter wrote it): read it without a key"
        : `it does not authenticate under ${encrypter.description} (another key, or the file was modified or truncated)` +
          (sealedWith?.envVar !== undefined
            ? `; it records env-var ${plainName(sealedWith.envVar, 80)}`
            : "");
    throw new StateKeeperError("E_DECRYPT", `cannot open unobin revision ${rev}: ${why}`, {
      details: { rev, given: encrypter.name },
    });
  }
  return { plaintext, sealing };
}

/**
 * The unobin stack `factory/stack` on `store`. Names are checked first (statekeeper's name rules:
 * the import keeps them); nothing is read until a method is called, and nothing is ever written.
 */
export function openUnobinStack(store: ObjectStore, options: UnobinStackOptions): UnobinStack {
  const factory = validateFactoryName(options.factory);
  const stack = validateName("stack", options.stack);
  const { encrypter } = options;
  if (typeof encrypter?.decrypt !== "function")
    throw new StateKeeperError(
      "E_INVALID_CONFIG",
      "openUnobinStack: encrypter is required (noop or env-key)",
    );
  // unobin joined the factory into its path as given (`filepath.Join`, S3 keys), so a factory
  // with `/` is nested folders there: kept as unobin wrote it, not statekeeper's `factoryKey`.
  const base = `${factory}/${stack}/`;
  const snapshotsPrefix = `${base}snapshots/`;

  async function marker(name: string): Promise<Uint8Array | undefined> {
    const key = `${base}${name}`;
    const got = await store.get(key);
    if (got !== undefined && got.body.byteLength > MAX_MARKER_BYTES)
      corrupt(
        `unobin's ${name} ${key} is ${got.body.byteLength} bytes, more than any ${name} unobin writes`,
        { key },
      );
    return got?.body;
  }

  async function revisionInfos(): Promise<RevisionInfo[]> {
    const infos: RevisionInfo[] = [];
    for await (const info of store.list(snapshotsPrefix)) {
      const name = info.key.slice(snapshotsPrefix.length);
      // unobin lists the snapshots folder only (Go os.ReadDir / a prefix listing) and keeps `.json.enc`.
      if (name.includes("/") || !name.endsWith(SNAPSHOT_SUFFIX)) continue;
      const rev = name.slice(0, -SNAPSHOT_SUFFIX.length);
      if (rev !== "") infos.push({ rev, size: info.size, lastModified: info.lastModified });
    }
    return infos.sort((a, b) => compareRevisions(a.rev, b.rev));
  }

  return {
    factory,
    stack,
    store,
    encrypter,
    async currentRev() {
      const body = await marker("current");
      if (body === undefined) return undefined;
      // Go: strings.TrimSpace; an empty pointer means no current.
      const rev = decodeUtf8(body, "current pointer", `${base}current`).trim();
      return rev === "" ? undefined : rev;
    },
    async revisions() {
      return (await revisionInfos()).map((info) => info.rev);
    },
    revisionInfos,
    async lockHolder() {
      const body = await marker("lock");
      return body === undefined ? undefined : describeLock(body);
    },
    async read(rev) {
      const key = `${snapshotsPrefix}${rev}${SNAPSHOT_SUFFIX}`;
      const got = await store.get(key);
      if (got === undefined)
        throw new StateKeeperError("E_NOT_FOUND", `no unobin revision ${rev} in ${factory}/${stack}`, {
          details: { rev },
        });
      const { plaintext, sealing } = openSnapshotFile(got.body, key, rev, encrypter);
      // Without a key, bytes that are no JSON were most likely sealed by unobin's env-key encrypter.
      const hint =
        encrypter.name === "noop" ? " (if unobin sealed it with its env-key encrypter, give that key)" : "";
      let text: string;
      let view: UnobinSnapshotView;
      try {
        text = decodeUtf8(plaintext, "snapshot", key);
        view = unobinView(text);
      } catch (e) {
        if (e instanceof StateKeeperError) {
          const notJson = e.details.rule === "json";
          throw new StateKeeperError(e.code, `unobin revision ${rev}: ${e.message}${notJson ? hint : ""}`, {
            details: { ...e.details, rev },
          });
        }
        throw e;
      }
      return { rev, text, sealing, view, size: got.body.byteLength };
    },
  };
}
