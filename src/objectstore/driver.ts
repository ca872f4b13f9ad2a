// The package entry `statekeeper/driver`: the kit every driver is built from — statekeeper's own
// (memory, file, s3) and third-party ones. The contract's types, its error, the checks every
// driver applies before any I/O, the key order listings follow, the capability probe, and the
// one retrying layer a remote driver wraps its single-attempt requests in.
export {
  checkDelete,
  checkPut,
  compareKeys,
  isSkipped,
  MAX_KEY_BYTES,
  validateKey,
  validatePrefix,
} from "./kit.js";
export { probeConditionalRequests } from "./probe.js";
export { type RetryingStoreOptions, type RetryPolicy, retryingStore } from "./retrying.js";
export type {
  Capabilities,
  DeleteOptions,
  ListOptions,
  ObjectInfo,
  ObjectStore,
  PutOptions,
  StoredObject,
  StoreErrorReason,
} from "./types.js";
export { isStoreError, StoreError } from "./types.js";
