import { createHmac, randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { StateKeeperError, truncateForMessage } from "../errors.js";
import { LruCache } from "../internal/lru.js";
import { DATA_KEY_BYTES, openWithKey, sealWithKey } from "./aead.js";
import { decodeStrictBase64, type KdfParams, parseEnvelope, SCRYPT_LIMITS } from "./envelope.js";
import {
  authenticationFailed,
  checkLocation,
  checkPlaintext,
  checkSealed,
  invalidConfig,
  wrongKey,
} from "./errors.js";
import type { Encrypter } from "./types.js";

export const MIN_PASSPHRASE_LENGTH = 16;
/** log2 of scrypt's N by default: 2^17 with r=8 costs 128 MiB and a fraction of a second. */
export const DEFAULT_SCRYPT_COST = 17;
const SCRYPT_R = 8;
const SCRYPT_P = 1;
const SALT_BYTES = 16;
const MIN_TEST_COST = 10;

export interface PassphraseEncrypterOptions {
  /** At least 16 characters. Never stored, logged or hashed cheaply. */
  passphrase: string;
  /**
   * log2 of scrypt's N (default 17). FOR TESTS ONLY: values below 17 exist so test suites can
   * run thousands of seals quickly; they make guessing the passphrase correspondingly cheaper.
   */
  cost?: number;
  /** A non-secret name appended to the key id (`passphrase:<label>`) to tell passphrases apart in a keyring. */
  label?: string;
}

interface DerivedKeys {
  dataKey: Uint8Array;
  check: string;
}

let scryptRuns = 0;
/** Internal, for tests: how many scrypt derivations this process has run. */
export function scryptRunCount(): number {
  return scryptRuns;
}

type ScryptCost = Pick<KdfParams, "N" | "r" | "p">;

function runScrypt(passphrase: string, salt: Uint8Array, { N, r, p }: ScryptCost): Promise<Buffer> {
  scryptRuns++;
  // 64 bytes: the first half is the AES key, the second only feeds the key-check value, so the
  // published check reveals nothing about the data key.
  return new Promise((resolve, reject) =>
    scrypt(
      passphrase,
      salt,
      2 * DATA_KEY_BYTES,
      { N, r, p, maxmem: 256 * N * r + 1024 * 1024 },
      (err, out) => (err === null ? resolve(out) : reject(err)),
    ),
  );
}

function keyCheck(checkKey: Uint8Array): string {
  return createHmac("sha256", checkKey).update("statekeeper passphrase check").digest("hex").slice(0, 16);
}

/**
 * AES-256-GCM under a key derived from a passphrase with scrypt. Each encrypter instance draws
 * one random salt and derives once; files sealed by other instances (other salts) are derived
 * once each and cached. The key id carries no function of the passphrase: see docs/envelope.md.
 */
export function passphraseEncrypter(options: PassphraseEncrypterOptions): Encrypter {
  if (typeof options !== "object" || options === null) throw invalidConfig("options", "must be an object");
  const { passphrase, cost = DEFAULT_SCRYPT_COST, label } = options;
  if (typeof passphrase !== "string") throw invalidConfig("passphrase", "must be a string");
  const length = [...passphrase].length;
  if (length < MIN_PASSPHRASE_LENGTH) {
    throw invalidConfig(
      "passphrase",
      `is ${length} characters; use at least ${MIN_PASSPHRASE_LENGTH} (or a random key with keyEncrypter)`,
    );
  }
  if (!Number.isInteger(cost) || cost < MIN_TEST_COST || cost > SCRYPT_LIMITS.maxLogN) {
    throw invalidConfig("cost", `must be an integer in ${MIN_TEST_COST}–${SCRYPT_LIMITS.maxLogN}`);
  }
  if (label !== undefined && (typeof label !== "string" || !/^[A-Za-z0-9._-]{1,64}$/.test(label))) {
    throw invalidConfig("label", "must be 1–64 characters of A-Z a-z 0-9 . _ -");
  }
  const keyId = label === undefined ? "passphrase" : `passphrase:${label}`;
  const params: ScryptCost = { N: 2 ** cost, r: SCRYPT_R, p: SCRYPT_P };
  const salt = randomBytes(SALT_BYTES).toString("base64");
  const derived = new LruCache<string, Promise<DerivedKeys>>(32);

  const derive = (cost: ScryptCost, saltBase64: string): Promise<DerivedKeys> => {
    const cacheKey = `${cost.N}:${cost.r}:${cost.p}:${saltBase64}`;
    const cached = derived.get(cacheKey);
    if (cached !== undefined) return cached;
    const pending = runScrypt(passphrase, decodeStrictBase64(saltBase64) ?? new Uint8Array(), cost).then(
      (out) => ({
        dataKey: new Uint8Array(out.subarray(0, DATA_KEY_BYTES)),
        check: keyCheck(out.subarray(DATA_KEY_BYTES)),
      }),
    );
    // A failed derivation (out of memory) must not poison the cache.
    pending.catch(() => derived.delete(cacheKey));
    derived.set(cacheKey, pending);
    return pending;
  };

  return {
    keyId,
    readableKeyIds: [keyId],
    // Every passphrase shares the key id: this instance's salt tells its files apart.
    sealingKeyMatches: (h) => h.keyId === keyId && h.kdf?.salt === salt,
    async seal(plaintext, location) {
      checkPlaintext(plaintext);
      checkLocation(location);
      const { dataKey, check } = await deriveOrThrow(derive, params, salt);
      return sealWithKey(
        dataKey,
        { keyId, kdf: { name: "scrypt", ...params, salt, check } },
        plaintext,
        location,
      );
    },
    async open(sealed, location) {
      checkSealed(sealed);
      checkLocation(location);
      const envelope = parseEnvelope(sealed);
      const { kdf } = envelope.header;
      if (envelope.header.keyId !== keyId || kdf === undefined) throw wrongKey(envelope.header, [keyId]);
      const { dataKey, check } = await deriveOrThrow(derive, kdf, kdf.salt);
      if (!timingSafeEqual(Buffer.from(check), Buffer.from(kdf.check))) {
        throw authenticationFailed(
          envelope.header,
          "the passphrase does not match the one that sealed the file",
        );
      }
      return openWithKey(dataKey, envelope, location);
    },
  };
}

async function deriveOrThrow(
  derive: (cost: ScryptCost, salt: string) => Promise<DerivedKeys>,
  cost: ScryptCost,
  salt: string,
): Promise<DerivedKeys> {
  try {
    return await derive(cost, salt);
  } catch (e) {
    const reason = e instanceof Error ? truncateForMessage(e.message, 200) : "unknown error";
    throw new StateKeeperError(
      "E_UNAVAILABLE",
      `scrypt key derivation failed (N=${cost.N}, r=${cost.r}): ${reason}`,
    );
  }
}
