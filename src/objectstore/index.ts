export type { FileStoreOptions } from "./file.js";
export { fileStore } from "./file.js";
export { MAX_KEY_BYTES, validateKey, validatePrefix } from "./keys.js";
export { memoryStore } from "./memory.js";
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
