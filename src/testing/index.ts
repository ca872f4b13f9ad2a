// statekeeper/testing: the conformance suites any driver can run, and the helpers to write them.
// Every suite has one signature: xConformance(test, makeStore, options?).
export type { BackendConformanceOptions } from "./backend-conformance.js";
export { backendConformance } from "./backend-conformance.js";
export type { ConformanceOptions, ConformanceTest, MakeStore } from "./conformance-api.js";
export type { DeploymentStoreConformanceOptions } from "./deployments-conformance.js";
export { deploymentStoreConformance } from "./deployments-conformance.js";
export type { ManualClock } from "./manual-clock.js";
export { manualClock } from "./manual-clock.js";
export type { ObjectStoreConformanceOptions } from "./objectstore-conformance.js";
export { objectStoreConformance } from "./objectstore-conformance.js";
export type { RecordStoreConformanceOptions } from "./records-conformance.js";
export { recordStoreConformance } from "./records-conformance.js";
export type { StoreCall, StoreOperation } from "./store-decorators.js";
export {
  ignoringIfMatchStore,
  ignoringPreconditionsStore,
  interceptStore,
  recordingStore,
} from "./store-decorators.js";
