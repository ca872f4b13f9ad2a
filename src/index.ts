// The package root: what an IaC engine author needs — a backend, stores by URL, encrypters,
// snapshots and errors. Everything else has its own entry point (docs/architecture.md):
//   statekeeper/records      per-resource records (unobin's record contract, DigitalOcean Spaces)
//   statekeeper/deployments  the deployment state container (Bluelink's)
//   statekeeper/admin        verify, migrate, rekey, prune, list stacks; inspect an envelope
//   statekeeper/s3           the S3 driver (s3Store) — `openStore("s3://…")` needs no import
//   statekeeper/driver       the kit a driver is built from (checks, probe, retryingStore)
//   statekeeper/testing      conformance suites and store decorators for driver authors

// Backends: one stack's versioned, locked state.
export type {
  Backend,
  BackendOptions,
  CommitOptions,
  EntryChanges,
  HistoryEntry,
  HistoryOptions,
  Lock,
  LockInfo,
  LockOptions,
  StackHistory,
} from "./backend/backend.js";
export { createBackend } from "./backend/backend.js";
export type { BackendType } from "./backend/registry.js";
export { backendTypes, openBackend, openBackendFromConfig, registerBackendType } from "./backend/registry.js";
// Encrypters.
export { generateKey, type KeyEncrypterOptions, keyEncrypter } from "./crypto/key.js";
export { keyring } from "./crypto/keyring.js";
export { type AwsKmsEncrypterOptions, awsKmsEncrypter } from "./crypto/kms.js";
export { noopEncrypter } from "./crypto/noop.js";
export { type PassphraseEncrypterOptions, passphraseEncrypter } from "./crypto/passphrase.js";
export type { Encrypter } from "./crypto/types.js";
// Errors: one table of codes, each of one kind.
export {
  type ErrorCode,
  type ErrorKind,
  errorKind,
  FencedError,
  hasErrorCode,
  isStateKeeperError,
  LockedError,
  type LockHolder,
  LockLostError,
  StateKeeperError,
} from "./errors.js";
// Object stores: the drivers' contract, the embedded ones, and any of them by URL.
export { fileStore } from "./objectstore/file.js";
export { memoryStore } from "./objectstore/memory.js";
export { openStore } from "./objectstore/schemes.js";
export type {
  Capabilities,
  DeleteOptions,
  ObjectInfo,
  ObjectStore,
  PutOptions,
} from "./objectstore/types.js";
export { isStoreError, StoreError, type StoreErrorReason } from "./objectstore/types.js";
// Snapshots.
export { decodeSnapshot, encodeSnapshot, newSnapshot } from "./snapshot/codec.js";
export { diffSnapshots, type SnapshotDiff } from "./snapshot/diff.js";
export type {
  Entry,
  EntryType,
  FactoryInfo,
  JsonObject,
  JsonValue,
  Snapshot,
  StateDocument,
} from "./snapshot/types.js";
export { validateSnapshot } from "./snapshot/validate.js";
