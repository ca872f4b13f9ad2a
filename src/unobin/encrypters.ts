import { openDetachedGcm } from "../crypto/aead.js";
import { keyFromEnv } from "../crypto/key.js";
import { StateKeeperError } from "../errors.js";

/**
 * unobin's built-in encrypters, for reading what they sealed (never for sealing: statekeeper
 * seals with its own envelopes, docs/envelope.md). cloudboss/unobin pkg/state/encrypt.go, later
 * pkg/envencrypt/envkey.go and pkg/encrypters/:
 *
 * - `noop` (`NoopEncrypter`, `envencrypt.Noop`): the bytes are the plaintext.
 * - `env-key` (`EnvKeyEncrypter`, `envencrypt.EnvKey`): a base64 32-byte key in an environment
 *   variable; AES-256-GCM, `nonce(12) ‖ ciphertext ‖ tag(16)`, no associated data.
 *
 * The key is read once, here, and never leaves this closure: no message or field carries it.
 */
export interface UnobinEncrypter {
  /** unobin's name for the key source: what its state envelopes record as `encrypter.name`. */
  readonly name: "noop" | "env-key";
  /** env-key: the variable the key was read from (a name, not a secret). */
  readonly envVar?: string;
  /** `noop` or `env-key env-var NAME`: how messages name this encrypter. */
  readonly description: string;
  /** The plaintext, or `undefined` when the bytes do not authenticate under this key. */
  decrypt(sealed: Uint8Array): Uint8Array | undefined;
}

/** unobin's noop encrypter: the stored bytes are the snapshot JSON. */
export function unobinNoopEncrypter(): UnobinEncrypter {
  return { name: "noop", description: "noop", decrypt: (sealed) => sealed };
}

export interface UnobinEnvKeyOptions {
  /** The environment variable holding the base64 key, as unobin's `env-var` setting named it. */
  envVar: string;
  /** Where to read it; defaults to `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
}

/**
 * unobin's env-key encrypter over the key in `envVar`. Refuses a missing variable, one that is
 * not base64, or a key that is not 32 bytes, as unobin's `NewEnvKey` did, before any I/O.
 */
export function unobinEnvKeyEncrypter(options: UnobinEnvKeyOptions): UnobinEncrypter {
  if (typeof options !== "object" || options === null)
    throw new StateKeeperError("E_INVALID_CONFIG", "unobinEnvKeyEncrypter: options must be an object");
  const key = keyFromEnv(options.envVar, options.env ?? process.env);
  return {
    name: "env-key",
    envVar: options.envVar,
    description: `env-key env-var ${options.envVar}`,
    decrypt: (sealed) => openDetachedGcm(key, sealed),
  };
}
