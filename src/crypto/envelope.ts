/**
 * The sealed-file envelope (byte format documented in docs/envelope.md):
 *
 *   "SKSEAL" | version (1 byte) | header length (uint32 BE) | header (canonical JSON) | body
 *
 * The header names how the body was sealed, never with key material. Parsing trusts nothing:
 * every length is bounded, every field validated, and the header must be byte-for-byte the
 * canonical encoding of what it says, so no bit of it can change without the file failing.
 */
import { StateKeeperError, truncateForMessage } from "../errors.js";
import { corrupt, MAX_LOCATION_LENGTH } from "./errors.js";

export const ENVELOPE_MAGIC = "SKSEAL";
export const ENVELOPE_VERSION = 1;
/** Headers hold a few ids and at most one wrapped key; anything larger is not ours. */
export const MAX_HEADER_BYTES = 16 * 1024;
export const GCM_NONCE_BYTES = 12;
export const GCM_TAG_BYTES = 16;

const MAGIC_BYTES = new TextEncoder().encode(ENVELOPE_MAGIC);
const PREFIX_BYTES = MAGIC_BYTES.length + 1 + 4;
const MAX_ID_LENGTH = 2048;
const MAX_WRAPPED_KEY_BYTES = 6144; // KMS CiphertextBlob maximum

export type EnvelopeAlgorithm = "AES-256-GCM" | "none";

/** scrypt parameters of a passphrase-sealed file. */
export interface KdfParams {
  name: "scrypt";
  N: number;
  r: number;
  p: number;
  /** base64 of the random salt. */
  salt: string;
  /** Hex key-check value derived from the scrypt output (see docs/envelope.md). */
  check: string;
}

/** The non-secret header of a sealed file. Field order here is the canonical JSON order. */
export interface EnvelopeHeader {
  algorithm: EnvelopeAlgorithm;
  /** `Encrypter.keyId` of the encrypter that sealed the file. */
  keyId: string;
  /** Where the key came from, for error messages (e.g. "env STATEKEEPER_KEY"). */
  hint?: string;
  kdf?: KdfParams;
  /** The KMS key that wrapped the data key, as KMS reported it. */
  kmsKeyId?: string;
  /** base64 of the KMS-wrapped data key. */
  wrappedKey?: string;
  /** base64 of the 96-bit AES-GCM nonce (noop: random too, so two seals never give the same bytes). */
  nonce?: string;
  /** noop only: the location the file was sealed for. */
  location?: string;
  /** noop only: hex SHA-256 of the nonce bytes followed by the body. */
  sha256?: string;
}

/** What `inspectEnvelope` reports: the header plus the envelope version and sizes. */
export interface EnvelopeInfo extends EnvelopeHeader {
  version: number;
  headerBytes: number;
  bodyBytes: number;
}

export interface ParsedEnvelope {
  header: EnvelopeHeader;
  /** Magic, version, length and header bytes: authenticated as associated data. */
  prefix: Uint8Array;
  body: Uint8Array;
}

const FIELDS = new Set([
  "algorithm",
  "keyId",
  "hint",
  "kdf",
  "kmsKeyId",
  "wrappedKey",
  "nonce",
  "location",
  "sha256",
]);
const KDF_FIELDS = new Set(["name", "N", "r", "p", "salt", "check"]);

function canonicalHeader(h: EnvelopeHeader): Record<string, unknown> {
  const out: Record<string, unknown> = { algorithm: h.algorithm, keyId: h.keyId };
  if (h.hint !== undefined) out.hint = h.hint;
  if (h.kdf !== undefined) {
    const { name, N, r, p, salt, check } = h.kdf;
    out.kdf = { name, N, r, p, salt, check };
  }
  if (h.kmsKeyId !== undefined) out.kmsKeyId = h.kmsKeyId;
  if (h.wrappedKey !== undefined) out.wrappedKey = h.wrappedKey;
  if (h.nonce !== undefined) out.nonce = h.nonce;
  if (h.location !== undefined) out.location = h.location;
  if (h.sha256 !== undefined) out.sha256 = h.sha256;
  return out;
}

/** Encodes everything before the body. The result is also the associated-data prefix. */
export function encodeEnvelopePrefix(header: EnvelopeHeader): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(canonicalHeader(header)));
  if (json.length > MAX_HEADER_BYTES) {
    throw new StateKeeperError("E_INVALID_ARGUMENT", `envelope header too large (${json.length} bytes)`);
  }
  const out = new Uint8Array(PREFIX_BYTES + json.length);
  out.set(MAGIC_BYTES, 0);
  out[MAGIC_BYTES.length] = ENVELOPE_VERSION;
  new DataView(out.buffer).setUint32(MAGIC_BYTES.length + 1, json.length, false);
  out.set(json, PREFIX_BYTES);
  return out;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Associated data: the exact header bytes, then the caller's location. */
export function associatedData(prefix: Uint8Array, location: string): Uint8Array {
  return concatBytes(prefix, new TextEncoder().encode(location));
}

/** Splits and validates an envelope. Throws only `E_CORRUPT` or `E_FORMAT_VERSION`. */
export function parseEnvelope(sealed: Uint8Array): ParsedEnvelope {
  if (sealed.length < MAGIC_BYTES.length || !MAGIC_BYTES.every((b, i) => sealed[i] === b)) {
    throw corrupt(`not a statekeeper sealed file (missing "${ENVELOPE_MAGIC}" magic bytes)`);
  }
  if (sealed.length < MAGIC_BYTES.length + 1) throw corrupt("truncated before the envelope version");
  const version = sealed[MAGIC_BYTES.length];
  if (version !== ENVELOPE_VERSION) {
    throw new StateKeeperError(
      "E_FORMAT_VERSION",
      `sealed file has envelope version ${version}; this statekeeper reads version ${ENVELOPE_VERSION}`,
      { details: { version, supported: [ENVELOPE_VERSION] } },
    );
  }
  if (sealed.length < PREFIX_BYTES) throw corrupt("truncated before the header length");
  const headerLength = new DataView(sealed.buffer, sealed.byteOffset, sealed.byteLength).getUint32(
    MAGIC_BYTES.length + 1,
    false,
  );
  if (headerLength > MAX_HEADER_BYTES)
    throw corrupt(`header length ${headerLength} exceeds ${MAX_HEADER_BYTES}`);
  if (sealed.length < PREFIX_BYTES + headerLength) throw corrupt("truncated inside the header");
  const headerBytes = sealed.subarray(PREFIX_BYTES, PREFIX_BYTES + headerLength);
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(headerBytes));
  } catch {
    throw corrupt("header is not valid UTF-8 JSON");
  }
  const header = validateHeader(raw);
  const canonical = new TextEncoder().encode(JSON.stringify(canonicalHeader(header)));
  if (canonical.length !== headerBytes.length || !canonical.every((b, i) => headerBytes[i] === b)) {
    throw corrupt("header is not in canonical form");
  }
  const body = sealed.subarray(PREFIX_BYTES + headerLength);
  if (header.algorithm === "AES-256-GCM" && body.length < GCM_TAG_BYTES) {
    throw corrupt("truncated: body shorter than the authentication tag");
  }
  return { header, prefix: sealed.subarray(0, PREFIX_BYTES + headerLength), body };
}

/**
 * The non-secret header of a sealed file, for tools that report which key sealed what
 * (`rekey`, `verify`). Verifies structure only; it authenticates nothing.
 */
export function inspectEnvelope(sealed: Uint8Array): EnvelopeInfo {
  if (!(sealed instanceof Uint8Array)) {
    throw new StateKeeperError("E_INVALID_ARGUMENT", "inspectEnvelope: sealed file must be a Uint8Array");
  }
  const { header, prefix, body } = parseEnvelope(sealed);
  return {
    version: ENVELOPE_VERSION,
    ...header,
    ...(header.kdf === undefined ? {} : { kdf: { ...header.kdf } }),
    headerBytes: prefix.length - PREFIX_BYTES,
    bodyBytes: body.length,
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function text(raw: Record<string, unknown>, field: string, max: number): string | undefined {
  const v = raw[field];
  if (v === undefined) return undefined;
  if (typeof v !== "string" || v.length === 0 || v.length > max) {
    throw corrupt(`header field ${field} must be a non-empty string of at most ${max} characters`);
  }
  return v;
}

/** Strict base64: the canonical encoding of its own decoding, so no two spellings exist. */
export function decodeStrictBase64(s: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) return undefined;
  const bytes = Buffer.from(s, "base64");
  return bytes.toString("base64") === s ? new Uint8Array(bytes) : undefined;
}

function base64Field(
  raw: Record<string, unknown>,
  field: string,
  min: number,
  max: number,
): string | undefined {
  const v = text(raw, field, Math.ceil(max / 3) * 4);
  if (v === undefined) return undefined;
  const bytes = decodeStrictBase64(v);
  if (bytes === undefined || bytes.length < min || bytes.length > max) {
    throw corrupt(`header field ${field} must be base64 of ${min === max ? min : `${min}–${max}`} bytes`);
  }
  return v;
}

function required<T>(value: T | undefined, field: string, algorithm: string): T {
  if (value === undefined) throw corrupt(`header field ${field} is required for algorithm ${algorithm}`);
  return value;
}

function forbidden(raw: Record<string, unknown>, fields: string[], why: string): void {
  for (const f of fields) if (raw[f] !== undefined) throw corrupt(`header field ${f} is not allowed ${why}`);
}

function integer(raw: Record<string, unknown>, field: string, min: number, max: number): number {
  const v = raw[field];
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw corrupt(`header field kdf.${field} must be an integer in ${min}–${max}`);
  }
  return v;
}

/** Bounds that keep a hostile header from making us allocate gigabytes or spin for minutes. */
export const SCRYPT_LIMITS = { maxLogN: 20, maxR: 16, maxP: 16, maxMemoryBytes: 1024 ** 3 } as const;

function validateKdf(raw: unknown): KdfParams {
  if (!isRecord(raw)) throw corrupt("header field kdf must be an object");
  for (const k of Object.keys(raw)) {
    if (!KDF_FIELDS.has(k))
      throw corrupt(`header field kdf has unknown member ${JSON.stringify(truncateForMessage(k, 40))}`);
  }
  if (raw.name !== "scrypt") throw corrupt("header field kdf.name must be scrypt");
  const N = integer(raw, "N", 2, 2 ** SCRYPT_LIMITS.maxLogN);
  if ((N & (N - 1)) !== 0) throw corrupt("header field kdf.N must be a power of two");
  const r = integer(raw, "r", 1, SCRYPT_LIMITS.maxR);
  const p = integer(raw, "p", 1, SCRYPT_LIMITS.maxP);
  if (128 * N * r > SCRYPT_LIMITS.maxMemoryBytes) throw corrupt("header field kdf asks for too much memory");
  const salt = required(base64Field(raw, "salt", 16, 64), "kdf.salt", "scrypt");
  const check = raw.check;
  if (typeof check !== "string" || !/^[0-9a-f]{16}$/.test(check)) {
    throw corrupt("header field kdf.check must be 16 lowercase hex digits");
  }
  return { name: "scrypt", N, r, p, salt, check };
}

function validateHeader(raw: unknown): EnvelopeHeader {
  if (!isRecord(raw)) throw corrupt("header is not a JSON object");
  for (const k of Object.keys(raw)) {
    if (!FIELDS.has(k))
      throw corrupt(`header has unknown field ${JSON.stringify(truncateForMessage(k, 40))}`);
  }
  const algorithm = raw.algorithm;
  if (algorithm !== "AES-256-GCM" && algorithm !== "none") throw corrupt("header names an unknown algorithm");
  const header: EnvelopeHeader = {
    algorithm,
    keyId: required(text(raw, "keyId", MAX_ID_LENGTH), "keyId", algorithm),
  };
  const hint = text(raw, "hint", MAX_ID_LENGTH);
  if (hint !== undefined) header.hint = hint;

  if (algorithm === "none") {
    forbidden(raw, ["kdf", "kmsKeyId", "wrappedKey"], "without encryption");
    header.nonce = required(base64Field(raw, "nonce", GCM_NONCE_BYTES, GCM_NONCE_BYTES), "nonce", algorithm);
    const location = raw.location;
    if (typeof location !== "string" || location.length > MAX_LOCATION_LENGTH) {
      throw corrupt("header field location must be a string");
    }
    header.location = location;
    const sha256 = raw.sha256;
    if (typeof sha256 !== "string" || !/^[0-9a-f]{64}$/.test(sha256)) {
      throw corrupt("header field sha256 must be 64 lowercase hex digits");
    }
    header.sha256 = sha256;
    return header;
  }

  forbidden(raw, ["location", "sha256"], "with encryption");
  header.nonce = required(base64Field(raw, "nonce", GCM_NONCE_BYTES, GCM_NONCE_BYTES), "nonce", algorithm);
  if (raw.kdf !== undefined) {
    forbidden(raw, ["kmsKeyId", "wrappedKey"], "with a passphrase");
    header.kdf = validateKdf(raw.kdf);
  }
  const wrappedKey = base64Field(raw, "wrappedKey", 1, MAX_WRAPPED_KEY_BYTES);
  if (wrappedKey !== undefined) header.wrappedKey = wrappedKey;
  const kmsKeyId = text(raw, "kmsKeyId", MAX_ID_LENGTH);
  if (kmsKeyId !== undefined) {
    if (wrappedKey === undefined) throw corrupt("header field kmsKeyId requires wrappedKey");
    header.kmsKeyId = kmsKeyId;
  }
  return header;
}
