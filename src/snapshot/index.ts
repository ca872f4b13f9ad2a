export type { DecodeOptions, EncodeOptions, StoredSnapshot } from "./codec.js";
export { decodeSnapshot, decodeStoredSnapshot, encodeSnapshot, newSnapshot } from "./codec.js";
export type { DiffOptions, EntryDiff, FieldChange, SnapshotDiff, ValueChange } from "./diff.js";
export { diffSnapshots, hasChanges, maskSensitive, SENSITIVE_MASK } from "./diff.js";
export { MAX_JSON_DEPTH } from "./json.js";
export type { NanoClock, ParsedRevision } from "./revision.js";
export {
  compareRevisions,
  isValidRevision,
  MAX_REVISION_ATTEMPTS,
  newRevision,
  parseRevision,
  revisionWithSuffix,
  sortRevisions,
} from "./revision.js";
export { formatRfc3339Nano, parseRfc3339 } from "./time.js";
export type { Entry, EntryType, FactoryInfo, JsonObject, JsonValue, Snapshot } from "./types.js";
export { ENTRY_TYPES, FORMAT_VERSION, MAX_SNAPSHOT_BYTES } from "./types.js";
export type { ValidateOptions } from "./validate.js";
export { validateSnapshot } from "./validate.js";
