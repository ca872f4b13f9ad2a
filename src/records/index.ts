// The package entry `statekeeper/records`: one record per infrastructure resource, with
// compare-and-swap saves and advisory record locks (docs/records.md). DigitalOcean's Spaces
// state store, kept compatible and made safe.
export {
  MAX_RESOURCE_ID_BYTES,
  RECORD_LAYOUTS,
  type RecordLayoutName,
  spacesName,
  validateResourceId,
} from "./keys.js";
export {
  type MigrateKeysProgress,
  type MigrateRecordKeysOptions,
  type MigrateRecordKeysReport,
  migrateRecordKeys,
  type SkippedRecord,
} from "./migrate-keys.js";
export { type SpacesRecordStoreOptions, spacesRecordStore } from "./spaces.js";
export { createRecordStore, openRecordStore, type RecordStoreOptions } from "./store.js";
export {
  type DeleteRecordOptions,
  type IaCState,
  type IaCStateInput,
  RECORD_FILTER_KEYS,
  RESOURCE_STATUSES,
  type RecordFilter,
  type RecordList,
  type RecordLock,
  type RecordLockOptions,
  type RecordStatus,
  type RecordStore,
  type RecordWithEtag,
  type ResourceStatus,
  type SaveRecordOptions,
  type UnreadableRecord,
} from "./types.js";
export {
  isResourceStatus,
  isValidStatus,
  MAX_RECORD_BYTES,
  MAX_STATUS_BYTES,
  validateStateInput,
} from "./validate.js";
