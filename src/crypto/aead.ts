/** AES-256-GCM over an envelope: the header and the caller's location are associated data. */
import { type Cipher, createCipheriv, createDecipheriv, type Decipher, randomBytes } from "node:crypto";
import { StateKeeperError } from "../errors.js";
import {
  associatedData,
  decodeStrictBase64,
  type EnvelopeHeader,
  encodeEnvelopePrefix,
  GCM_NONCE_BYTES,
  GCM_TAG_BYTES,
  type ParsedEnvelope,
} from "./envelope.js";
import { authenticationFailed } from "./errors.js";

export const DATA_KEY_BYTES = 32;

/**
 * node:crypto returns a fresh buffer per update; feeding it slices keeps that temporary small
 * instead of a second full copy of a 100 MB state (plus node's own transient one).
 */
const CHUNK_BYTES = 256 * 1024;

/** A short write would leave zeros in the envelope: never let a length other than expected pass. */
function wrongLength(): never {
  throw new StateKeeperError("E_INTERNAL", "AES-256-GCM produced an unexpected number of bytes");
}

function copyInto(chunk: Uint8Array, target: Uint8Array, at: number): number {
  if (at + chunk.length > target.length) wrongLength();
  target.set(chunk, at);
  return at + chunk.length;
}

/** A plain Uint8Array over `b`'s bytes, copied only if `b` shares its memory with anything else. */
function ownBytes(b: Buffer): Uint8Array {
  if (b.byteOffset === 0 && b.buffer.byteLength === b.length) return new Uint8Array(b.buffer, 0, b.length);
  const copy = new Uint8Array(b.length);
  copy.set(b);
  return copy;
}

/** Runs `input` through the cipher slice by slice, writing its output into `target` from `at`. */
function transformInto(cipher: Cipher | Decipher, input: Uint8Array, target: Uint8Array, at: number): number {
  let written = at;
  for (let from = 0; from < input.length; from += CHUNK_BYTES) {
    written = copyInto(cipher.update(input.subarray(from, from + CHUNK_BYTES)), target, written);
  }
  return written;
}

/** Header fields an encrypter chooses; the algorithm and the fresh nonce are added here. */
export type SealingHeader = Omit<EnvelopeHeader, "algorithm" | "nonce" | "location" | "sha256">;

export function sealWithKey(
  key: Uint8Array,
  header: SealingHeader,
  plaintext: Uint8Array,
  location: string,
): Uint8Array {
  // A random 96-bit nonce per seal; keys are per-instance or per-seal, so the birthday bound
  // (2^32 seals under one key for a 2^-32 collision chance) is far away.
  const nonce = randomBytes(GCM_NONCE_BYTES);
  const prefix = encodeEnvelopePrefix({
    algorithm: "AES-256-GCM",
    ...header,
    nonce: nonce.toString("base64"),
  });
  const cipher = createCipheriv("aes-256-gcm", key, nonce, { authTagLength: GCM_TAG_BYTES });
  cipher.setAAD(associatedData(prefix, location));
  // GCM ciphertext is exactly as long as the plaintext: the envelope is allocated once, whole.
  const sealed = new Uint8Array(prefix.length + plaintext.length + GCM_TAG_BYTES);
  sealed.set(prefix, 0);
  let at = transformInto(cipher, plaintext, sealed, prefix.length);
  at = copyInto(cipher.final(), sealed, at);
  at = copyInto(cipher.getAuthTag(), sealed, at);
  if (at !== sealed.length) wrongLength();
  return sealed;
}

/** Opens an AES-256-GCM envelope with `key`, or throws `E_DECRYPT` when it does not authenticate. */
export function openWithKey(key: Uint8Array, envelope: ParsedEnvelope, location: string): Uint8Array {
  const { header, prefix, body } = envelope;
  const nonce = decodeStrictBase64(header.nonce ?? "");
  if (header.algorithm !== "AES-256-GCM" || nonce === undefined || nonce.length !== GCM_NONCE_BYTES) {
    throw authenticationFailed(header, "the file is not sealed with AES-256-GCM");
  }
  const tagAt = body.length - GCM_TAG_BYTES;
  let opened: Buffer;
  let tail: Buffer;
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, nonce, { authTagLength: GCM_TAG_BYTES });
    decipher.setAAD(associatedData(prefix, location));
    decipher.setAuthTag(body.subarray(tagAt));
    // One update, whose buffer is handed over as it is: slicing as sealing does would add a copy,
    // and its many small buffers cost full GCs next to a large heap (for 100 MB beside a
    // 15 000-entry state, 230 ms instead of 110 ms).
    opened = decipher.update(body.subarray(0, tagAt));
    tail = decipher.final();
  } catch {
    throw authenticationFailed(header);
  }
  // GCM's final() authenticates and adds nothing; anything else would be silently dropped here.
  if (tail.length !== 0 || opened.length !== tagAt) wrongLength();
  return ownBytes(opened);
}

/**
 * Opens `nonce ‖ ciphertext ‖ tag` under `key`: AES-256-GCM with a 12-byte nonce and no associated
 * data, the bytes unobin's env-key encrypter writes (Go `EnvKey.Encrypt` in cloudboss/unobin
 * pkg/envencrypt/envkey.go, `aead.Seal(nonce, nonce, plaintext, nil)`). Nothing binds such bytes
 * to a location: only reading another system's files uses it, never sealing ours. `undefined` when
 * they do not authenticate (wrong key, modified or truncated); the caller names what it opened.
 */
export function openDetachedGcm(key: Uint8Array, sealed: Uint8Array): Uint8Array | undefined {
  if (sealed.length < GCM_NONCE_BYTES + GCM_TAG_BYTES) return undefined;
  const nonce = sealed.subarray(0, GCM_NONCE_BYTES);
  const tagAt = sealed.length - GCM_TAG_BYTES;
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, nonce, { authTagLength: GCM_TAG_BYTES });
    decipher.setAuthTag(sealed.subarray(tagAt));
    const opened = decipher.update(sealed.subarray(GCM_NONCE_BYTES, tagAt));
    if (decipher.final().length !== 0 || opened.length !== tagAt - GCM_NONCE_BYTES) wrongLength();
    return ownBytes(opened);
  } catch (e) {
    if (e instanceof StateKeeperError) throw e;
    return undefined;
  }
}
