import type { EnvelopeHeader } from "./envelope.js";
import type { Encrypter } from "./types.js";

/**
 * Whether a file with this envelope header was sealed with the key `encrypter.seal` uses now
 * (`Encrypter.sealingKeyMatches`; for an encrypter without it, the key id alone decides).
 * Never seals or calls a KMS.
 */
export function sealingKeyMatches(encrypter: Encrypter, header: EnvelopeHeader): boolean {
  return encrypter.sealingKeyMatches?.(header) ?? header.keyId === encrypter.keyId;
}
