export type { FileStoreOptions } from "./file.js";
export { fileStore } from "./file.js";
export { MAX_KEY_BYTES, validateKey, validatePrefix } from "./kit.js";
export { memoryStore } from "./memory.js";
export { probeConditionalRequests } from "./probe.js";
export type { ConfigField, StoreScheme } from "./schemes.js";
export {
  describeStoreUrl,
  openStore,
  STORE_SCHEMES,
  SUPPORTED_STORE_SCHEMES,
  storeScheme,
} from "./schemes.js";
export type {
  Capabilities,
  DeleteOptions,
  ListOptions,
  ObjectInfo,
  ObjectStore,
  PutOptions,
  StoreErrorReason,
} from "./types.js";
export { isStoreError, StoreError } from "./types.js";
