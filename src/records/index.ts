export {
  classifyKey,
  escapeResourceId,
  LOCK_SUFFIX,
  lockKey,
  MAX_RECORDS_PREFIX_BYTES,
  MAX_RESOURCE_ID_BYTES,
  normalizeRecordsPrefix,
  RECORD_SUFFIX,
  recordKey,
  unescapeResourceId,
  validateResourceId,
} from "./keys.js";
export { matchesFilter, validateFilter } from "./list.js";
export {
  resolveSpacesConfig,
  type SpacesConfig,
  type SpacesRecordStoreOptions,
  spacesRecordStore,
} from "./spaces.js";
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
export {
  decodeStoredState,
  encodeState,
  isResourceStatus,
  isRfc3339,
  MAX_RECORD_BYTES,
  validateStateInput,
} from "./validate.js";
