export { DEFAULT_LEASE_MS, DEFAULT_POLL_MS, describeHolder } from "../lock/lease.js";
export { assertStoreSupported, storeCapabilities } from "../objectstore/probe.js";
export type {
  Backend,
  BackendOptions,
  CommitOptions,
  EntryChanges,
  HeadMode,
  HistoryEntry,
  HistoryOptions,
  Lock,
  LockInfo,
  LockOptions,
  RevisionContent,
  RevisionInfo,
  RevisionProblem,
  RevisionSummary,
  StackHistory,
} from "./backend.js";
export { createBackend } from "./backend.js";
export type { CurrentPointer, Fence } from "./current.js";
export type { StackLayout } from "./layout.js";
export { stackLayout } from "./layout.js";
export {
  factoryKey,
  factoryOfKey,
  MAX_NAME_LENGTH,
  normalizePrefix,
  validateFactoryName,
  validateName,
} from "./names.js";
export type { BackendContext, BackendType, ConfigField } from "./registry.js";
export {
  backendTypes,
  openBackend,
  openBackendFromConfig,
  registerBackendType,
  validateBackendConfig,
} from "./registry.js";
