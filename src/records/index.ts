// The package entry `statekeeper/records`: one record per infrastructure resource, with
// compare-and-swap saves and advisory record locks (docs/records.md). DigitalOcean's Spaces
// state store, kept compatible and made safe.
export { MAX_RESOURCE_ID_BYTES, validateResourceId } from "./keys.js";
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
  type RecordStore,
  type RecordWithEtag,
  type ResourceStatus,
  type SaveRecordOptions,
  type UnreadableRecord,
} from "./types.js";
export { isResourceStatus, MAX_RECORD_BYTES, validateStateInput } from "./validate.js";
