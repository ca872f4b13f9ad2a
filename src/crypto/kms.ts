import type { KMSClient } from "@aws-sdk/client-kms";
import { StateKeeperError } from "../errors.js";
import { withoutNodeVersionWarning } from "../internal/aws-sdk.js";
import { LruCache } from "../internal/lru.js";
import { hasControlCharacter } from "../internal/text.js";
import { DATA_KEY_BYTES, openWithKey, sealWithKey } from "./aead.js";
import { decodeStrictBase64, type EnvelopeHeader, parseEnvelope } from "./envelope.js";
import {
  checkLocation,
  checkPlaintext,
  checkSealed,
  describeSealingKey,
  invalidConfig,
  wrongKey,
} from "./errors.js";
import { mapKmsError } from "./kms-errors.js";
import type { Encrypter } from "./types.js";

export interface AwsKmsEncrypterOptions {
  /** The KMS key (id, ARN, alias name or alias ARN) that wraps every data key. */
  keyId: string;
  /** A configured client; otherwise one is built from `region`/`endpoint` and the standard AWS credential chain. */
  client?: KMSClient;
  region?: string;
  endpoint?: string;
  /** How many unwrapped data keys to keep (default 256). */
  cacheSize?: number;
}

/** The KMS EncryptionContext key binding every data key to the location it sealed. */
export const KMS_LOCATION_CONTEXT = "statekeeper:location";

type KmsSdk = typeof import("@aws-sdk/client-kms");
let sdk: Promise<KmsSdk> | undefined;
// Loaded on first use, so users of the other encrypters never load the AWS SDK.
const loadSdk = (): Promise<KmsSdk> => {
  sdk ??= import("@aws-sdk/client-kms");
  return sdk;
};

/**
 * AES-256-GCM under a fresh data key per seal from KMS GenerateDataKey, wrapped in the header.
 * The EncryptionContext {"statekeeper:location": location} makes KMS itself refuse to unwrap
 * the key for another location (and shows the location in CloudTrail). Opening always asks KMS
 * to decrypt with the configured key, never a key the file names; unwrapped keys are cached
 * (bounded) by location and wrapped key, so re-reading a file does not call KMS again.
 */
export function awsKmsEncrypter(options: AwsKmsEncrypterOptions): Encrypter {
  if (typeof options !== "object" || options === null) throw invalidConfig("options", "must be an object");
  const { keyId: kmsKeyId, client: givenClient, region, endpoint, cacheSize = 256 } = options;
  if (
    typeof kmsKeyId !== "string" ||
    kmsKeyId.length === 0 ||
    kmsKeyId.length > 2048 ||
    hasControlCharacter(kmsKeyId)
  ) {
    throw invalidConfig("keyId", "must be a KMS key id, key ARN, alias name or alias ARN");
  }
  if (givenClient !== undefined && (region !== undefined || endpoint !== undefined)) {
    throw invalidConfig("client", "give either client or region/endpoint, not both");
  }
  if (givenClient !== undefined && typeof (givenClient as { send?: unknown }).send !== "function") {
    throw invalidConfig("client", "must be a KMSClient");
  }
  if (endpoint !== undefined && !URL.canParse(endpoint)) throw invalidConfig("endpoint", "must be a URL");
  if (!Number.isInteger(cacheSize) || cacheSize < 1)
    throw invalidConfig("cacheSize", "must be a positive integer");

  const keyId = `kms:${kmsKeyId}`;
  const dataKeys = new LruCache<string, Uint8Array>(cacheSize);
  let client: Promise<KMSClient> | undefined;
  const getClient = (): Promise<KMSClient> => {
    client ??= givenClient
      ? Promise.resolve(givenClient)
      : loadSdk().then((m) =>
          withoutNodeVersionWarning(
            () =>
              new m.KMSClient({
                ...(region === undefined ? {} : { region }),
                ...(endpoint === undefined ? {} : { endpoint }),
              }),
          ),
        );
    return client;
  };
  const context = (location: string) => ({ [KMS_LOCATION_CONTEXT]: location });
  const cacheKey = (location: string, wrappedKey: string) => `${wrappedKey} ${location}`;

  return {
    keyId,
    readableKeyIds: [keyId],
    // The configured key id, as every seal writes it: no KMS call is needed to tell.
    sealingKeyMatches: (h) => h.keyId === keyId && h.kdf === undefined,
    async seal(plaintext, location) {
      checkPlaintext(plaintext);
      checkLocation(location);
      let dataKey: Uint8Array;
      let wrapped: Uint8Array;
      let wrappingKey: string;
      try {
        const [m, kms] = await Promise.all([loadSdk(), getClient()]);
        const out = await kms.send(
          new m.GenerateDataKeyCommand({
            KeyId: kmsKeyId,
            KeySpec: "AES_256",
            EncryptionContext: context(location),
          }),
        );
        if (out.Plaintext?.length !== DATA_KEY_BYTES || out.CiphertextBlob === undefined) {
          throw new StateKeeperError(
            "E_UNAVAILABLE",
            `AWS KMS GenerateDataKey returned no usable data key for ${keyId}`,
          );
        }
        dataKey = Uint8Array.from(out.Plaintext);
        out.Plaintext.fill(0);
        wrapped = out.CiphertextBlob;
        wrappingKey = out.KeyId ?? kmsKeyId;
      } catch (e) {
        throw mapKmsError(e, "GenerateDataKey", `KMS key ${kmsKeyId}`);
      }
      const wrappedKey = Buffer.from(wrapped).toString("base64");
      dataKeys.set(cacheKey(location, wrappedKey), dataKey);
      return sealWithKey(dataKey, { keyId, kmsKeyId: wrappingKey, wrappedKey }, plaintext, location);
    },
    async open(sealed, location) {
      checkSealed(sealed);
      checkLocation(location);
      const envelope = parseEnvelope(sealed);
      const { header } = envelope;
      if (header.keyId !== keyId || header.wrappedKey === undefined) throw wrongKey(header, [keyId]);
      const key = cacheKey(location, header.wrappedKey);
      let dataKey = dataKeys.get(key);
      if (dataKey === undefined) {
        dataKey = await unwrap(header, header.wrappedKey, location);
        dataKeys.set(key, dataKey);
      }
      return openWithKey(dataKey, envelope, location);
    },
  };

  async function unwrap(header: EnvelopeHeader, wrappedKey: string, location: string): Promise<Uint8Array> {
    try {
      const [m, kms] = await Promise.all([loadSdk(), getClient()]);
      const out = await kms.send(
        new m.DecryptCommand({
          CiphertextBlob: decodeStrictBase64(wrappedKey),
          KeyId: kmsKeyId,
          EncryptionContext: context(location),
        }),
      );
      if (out.Plaintext?.length !== DATA_KEY_BYTES) {
        throw new StateKeeperError("E_DECRYPT", `AWS KMS returned a data key of the wrong size for ${keyId}`);
      }
      const dataKey = Uint8Array.from(out.Plaintext);
      out.Plaintext.fill(0);
      return dataKey;
    } catch (e) {
      throw mapKmsError(
        e,
        "Decrypt",
        `the file sealed with ${describeSealingKey(header)} (location ${JSON.stringify(location)})`,
        { sealedWith: header.keyId, ...(header.kmsKeyId === undefined ? {} : { kmsKeyId: header.kmsKeyId }) },
      );
    }
  }
}
