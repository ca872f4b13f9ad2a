import { createHash, randomBytes } from "node:crypto";
import { StateKeeperError, truncateForMessage } from "../errors.js";
import { concatBytes, encodeEnvelopePrefix, GCM_NONCE_BYTES, parseEnvelope } from "./envelope.js";
import { checkLocation, checkPlaintext, checkSealed, corrupt, wrongKey } from "./errors.js";
import type { Encrypter } from "./types.js";

export const NOOP_KEY_ID = "noop";

// The digest covers the nonce too, so no byte of the file (the unused nonce included) can change unnoticed.
const digestHex = (nonce: string, body: Uint8Array): string =>
  createHash("sha256").update(Buffer.from(nonce, "base64")).update(body).digest("hex");

/**
 * Stores plaintext, for tests and for data that is not sensitive. Still an envelope: the header
 * records the location and a SHA-256 of nonce and body, so a moved file or a flipped byte is refused
 * exactly as with real encryption (this protects against accidents, not against an attacker,
 * who can rewrite both).
 */
export function noopEncrypter(): Encrypter {
  return {
    keyId: NOOP_KEY_ID,
    readableKeyIds: [NOOP_KEY_ID],
    sealingKeyMatches: (h) => h.keyId === NOOP_KEY_ID && h.kdf === undefined,
    async seal(plaintext, location) {
      checkPlaintext(plaintext);
      checkLocation(location);
      // Not used by any cipher: it keeps the contract that two seals never give the same bytes.
      const nonce = randomBytes(GCM_NONCE_BYTES).toString("base64");
      const prefix = encodeEnvelopePrefix({
        algorithm: "none",
        keyId: NOOP_KEY_ID,
        nonce,
        location,
        sha256: digestHex(nonce, plaintext),
      });
      return concatBytes(prefix, plaintext);
    },
    async open(sealed, location) {
      checkSealed(sealed);
      checkLocation(location);
      const { header, body } = parseEnvelope(sealed);
      if (header.algorithm !== "none" || header.keyId !== NOOP_KEY_ID) throw wrongKey(header, [NOOP_KEY_ID]);
      if (header.location !== location) {
        throw new StateKeeperError(
          "E_DECRYPT",
          `cannot open sealed file: it was sealed for location ${JSON.stringify(truncateForMessage(header.location ?? ""))}, ` +
            `not ${JSON.stringify(truncateForMessage(location))}`,
          { details: { sealedWith: NOOP_KEY_ID, sealedFor: header.location, location } },
        );
      }
      if (header.sha256 !== digestHex(header.nonce ?? "", body))
        throw corrupt("body does not match its SHA-256 digest");
      return concatBytes(body);
    },
  };
}
