/** AES-256-GCM over an envelope: the header and the caller's location are associated data. */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import {
  associatedData,
  concatBytes,
  decodeStrictBase64,
  type EnvelopeHeader,
  encodeEnvelopePrefix,
  GCM_NONCE_BYTES,
  GCM_TAG_BYTES,
  type ParsedEnvelope,
} from "./envelope.js";
import { authenticationFailed } from "./errors.js";

export const DATA_KEY_BYTES = 32;

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
  const body = concatBytes(cipher.update(plaintext), cipher.final(), cipher.getAuthTag());
  return concatBytes(prefix, body);
}

/** Opens an AES-256-GCM envelope with `key`, or throws `E_DECRYPT` when it does not authenticate. */
export function openWithKey(key: Uint8Array, envelope: ParsedEnvelope, location: string): Uint8Array {
  const { header, prefix, body } = envelope;
  const nonce = decodeStrictBase64(header.nonce ?? "");
  if (header.algorithm !== "AES-256-GCM" || nonce === undefined || nonce.length !== GCM_NONCE_BYTES) {
    throw authenticationFailed(header, "the file is not sealed with AES-256-GCM");
  }
  const tagAt = body.length - GCM_TAG_BYTES;
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, nonce, { authTagLength: GCM_TAG_BYTES });
    decipher.setAAD(associatedData(prefix, location));
    decipher.setAuthTag(body.subarray(tagAt));
    return concatBytes(decipher.update(body.subarray(0, tagAt)), decipher.final());
  } catch {
    throw authenticationFailed(header);
  }
}
