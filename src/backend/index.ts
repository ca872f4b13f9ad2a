export type {
  Backend,
  BackendOptions,
  CommitOptions,
  HistoryEntry,
  HistoryOptions,
  LockInfo,
  RevisionContent,
  RevisionInfo,
  RevisionProblem,
  StackHistory,
} from "./backend.js";
export { createBackend } from "./backend.js";
export { assertStoreSupported, storeCapabilities } from "./capabilities.js";
export type { CurrentPointer, Fence, StackLayout } from "./layout.js";
export { stackLayout } from "./layout.js";
export type { Lock, LockOptions } from "./lock.js";
export { DEFAULT_LEASE_MS, DEFAULT_POLL_MS, describeHolder } from "./lock.js";
export { MAX_NAME_LENGTH, normalizePrefix, validateName } from "./names.js";
export type { BackendContext, BackendType, ConfigField } from "./registry.js";
export {
  backendTypes,
  openBackend,
  openBackendFromConfig,
  registerBackendType,
  validateBackendConfig,
} from "./registry.js";
export type { StackSummary } from "./stacks.js";
export { listStacks } from "./stacks.js";
