export {
  ENVELOPE_MAGIC,
  ENVELOPE_VERSION,
  type EnvelopeAlgorithm,
  type EnvelopeHeader,
  type EnvelopeInfo,
  inspectEnvelope,
  type KdfParams,
  MAX_HEADER_BYTES,
} from "./envelope.js";
export { generateKey, type KeyEncrypterOptions, keyEncrypter, keyFingerprint } from "./key.js";
export { keyring } from "./keyring.js";
export { type AwsKmsEncrypterOptions, awsKmsEncrypter, KMS_LOCATION_CONTEXT } from "./kms.js";
export { NOOP_KEY_ID, noopEncrypter } from "./noop.js";
export {
  DEFAULT_SCRYPT_COST,
  MIN_PASSPHRASE_LENGTH,
  type PassphraseEncrypterOptions,
  passphraseEncrypter,
} from "./passphrase.js";
export type { Encrypter } from "./types.js";
