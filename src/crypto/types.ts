import type { EnvelopeHeader } from "./envelope.js";

/**
 * Seals and opens stored files. Every snapshot (and any record a layer chooses to encrypt) is
 * sealed in a versioned, self-describing envelope whose header and `location` are authenticated,
 * so a sealed file moved to another location fails to open.
 *
 * Implementations never put key material, passphrases or credentials in envelopes, errors or
 * `describe()` output.
 */
export interface Encrypter {
  /**
   * A non-secret identifier of the key that `seal` uses, e.g. `key:3f9a0c…` (a fingerprint of a
   * random 256-bit key), `passphrase` (never derived cheaply from the passphrase, see
   * docs/envelope.md), `kms:arn:aws:kms:…`, `noop`.
   * It is written into envelope headers and named in `E_DECRYPT` errors.
   */
  readonly keyId: string;
  /**
   * Seals `plaintext` for `location` (e.g. `factory/stack/snapshots/<rev>`). Never mutates the
   * input. Two seals of the same input produce different bytes (fresh random nonce).
   */
  seal(plaintext: Uint8Array, location: string): Promise<Uint8Array>;
  /**
   * Opens an envelope sealed for `location`. Throws `E_DECRYPT` (naming the key id that sealed
   * the file) when this encrypter holds no matching key or authentication fails, `E_CORRUPT`
   * for a malformed or truncated envelope, `E_FORMAT_VERSION` for an unknown envelope version.
   */
  open(sealed: Uint8Array, location: string): Promise<Uint8Array>;
  /** The key ids this encrypter can open (for a keyring: the primary and every fallback). */
  readonly readableKeyIds: readonly string[];
  /**
   * Optional, non-secret: where the sealing key comes from (e.g. `env STATEKEEPER_KEY`), written
   * into envelope headers so a failure can say more than the key id.
   */
  readonly hint?: string;
  /**
   * Optional: whether a file whose envelope header is `header` was sealed with the key `seal`
   * uses now — the same key id and, for passphrases (which all share one key id), the same KDF
   * salt. Answered from what the encrypter already knows, never by calling a KMS. Re-keying
   * skips files for which it is true. Without it, the key id alone decides.
   */
  sealingKeyMatches?(header: EnvelopeHeader): boolean;
}
