import { createHmac, randomBytes } from "node:crypto";
import { DATA_KEY_BYTES, openWithKey, sealWithKey } from "./aead.js";
import { decodeStrictBase64, parseEnvelope } from "./envelope.js";
import { checkLocation, checkPlaintext, checkSealed, invalidConfig, wrongKey } from "./errors.js";
import type { Encrypter } from "./types.js";

/** Either the key itself or the name of an environment variable holding it in base64. */
export type KeyEncrypterOptions =
  | { key: Uint8Array }
  | {
      envVar: string;
      /** Where to read `envVar`; defaults to `process.env`. */
      env?: Readonly<Record<string, string | undefined>>;
    };

/** A fresh random 256-bit key, base64-encoded: what `keyEncrypter({ envVar })` expects. */
export function generateKey(): string {
  return randomBytes(DATA_KEY_BYTES).toString("base64");
}

/**
 * `key:` + 16 hex digits of HMAC-SHA256(key, "statekeeper key id"). Safe to publish for a
 * random 256-bit key (it cannot be inverted or guessed); it would NOT be safe for a password,
 * which is why passphrases get no fingerprint.
 */
export function keyFingerprint(key: Uint8Array): string {
  return `key:${createHmac("sha256", key).update("statekeeper key id").digest("hex").slice(0, 16)}`;
}

/**
 * The 32-byte key in environment variable `envVar` (base64). Also reads the key of unobin's
 * env-key encrypter, which takes the same form (`src/unobin/encrypters.ts`).
 */
export function keyFromEnv(envVar: string, env: Readonly<Record<string, string | undefined>>): Uint8Array {
  if (typeof envVar !== "string" || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(envVar)) {
    throw invalidConfig("envVar", "must be an environment variable name");
  }
  const value = env[envVar];
  if (value === undefined || value === "") {
    throw invalidConfig(
      "envVar",
      `environment variable ${envVar} is not set (generate a key with generateKey())`,
    );
  }
  // Surrounding whitespace is forgiven (a trailing newline from a file or `echo`); anything
  // else outside the base64 alphabet is refused rather than silently skipped by the decoder.
  const decoded = decodeStrictBase64(value.trim());
  if (decoded === undefined) {
    throw invalidConfig("envVar", `environment variable ${envVar} is not valid base64`);
  }
  if (decoded.length !== DATA_KEY_BYTES) {
    throw invalidConfig(
      "envVar",
      `environment variable ${envVar} decodes to ${decoded.length} bytes; a key is exactly ${DATA_KEY_BYTES} bytes`,
    );
  }
  return decoded;
}

/**
 * AES-256-GCM under one 32-byte key, given directly or read (once, now) from an environment
 * variable. The key id is the key's fingerprint; the variable's name is recorded as a hint so
 * a wrong-key error can say where the sealing key was expected to come from.
 */
export function keyEncrypter(options: KeyEncrypterOptions): Encrypter {
  if (typeof options !== "object" || options === null) throw invalidConfig("options", "must be an object");
  let key: Uint8Array;
  let hint: string | undefined;
  if ("key" in options) {
    if (!(options.key instanceof Uint8Array)) throw invalidConfig("key", "must be a Uint8Array");
    if (options.key.length !== DATA_KEY_BYTES) {
      throw invalidConfig("key", `is ${options.key.length} bytes; a key is exactly ${DATA_KEY_BYTES} bytes`);
    }
    key = Uint8Array.from(options.key);
  } else if ("envVar" in options) {
    key = keyFromEnv(options.envVar, options.env ?? process.env);
    hint = `env ${options.envVar}`;
  } else {
    throw invalidConfig("options", "give either key or envVar");
  }
  const keyId = keyFingerprint(key);
  const header = hint === undefined ? { keyId } : { keyId, hint };
  return {
    keyId,
    readableKeyIds: [keyId],
    ...(hint === undefined ? {} : { hint }),
    sealingKeyMatches: (h) => h.keyId === keyId && h.kdf === undefined,
    async seal(plaintext, location) {
      checkPlaintext(plaintext);
      checkLocation(location);
      return sealWithKey(key, header, plaintext, location);
    },
    async open(sealed, location) {
      checkSealed(sealed);
      checkLocation(location);
      const envelope = parseEnvelope(sealed);
      const h = envelope.header;
      if (
        h.keyId !== keyId ||
        h.algorithm !== "AES-256-GCM" ||
        h.kdf !== undefined ||
        h.wrappedKey !== undefined
      ) {
        throw wrongKey(h, [keyId]);
      }
      return openWithKey(key, envelope, location);
    },
  };
}
