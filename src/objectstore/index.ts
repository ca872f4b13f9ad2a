export type { FileStoreOptions } from "./file.js";
export { fileStore } from "./file.js";
export { MAX_KEY_BYTES, validateKey, validatePrefix } from "./kit.js";
export { memoryStore } from "./memory.js";
export { probeConditionalRequests } from "./probe.js";
// The S3 driver's module loads no SDK code until its first request.
export type { S3Credentials, S3StoreOptions } from "./s3.js";
export { s3Store, s3StoreFromUrl } from "./s3.js";
export type {
  Capabilities,
  DeleteOptions,
  ObjectInfo,
  ObjectStore,
  PutOptions,
  StoreErrorReason,
} from "./types.js";
export { isStoreError, StoreError } from "./types.js";
export { describeStoreUrl, openStore, SUPPORTED_STORE_SCHEMES } from "./url.js";
