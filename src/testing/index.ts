export type { BackendConformanceOptions, TestFunctions } from "./backend-conformance.js";
export { backendConformance } from "./backend-conformance.js";
export type { ConformanceTestApi, ObjectStoreConformanceOptions } from "./objectstore-conformance.js";
export { objectStoreConformance } from "./objectstore-conformance.js";
export type { StoreCall, StoreOperation } from "./store-decorators.js";
export {
  ignoringPreconditionsStore,
  interceptStore,
  recordingStore,
} from "./store-decorators.js";
