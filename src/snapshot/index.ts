export type { DecodeOptions, EncodeOptions, StoredSnapshot } from "./codec.js";
export { decodeSnapshot, decodeStoredSnapshot, encodeSnapshot, newSnapshot } from "./codec.js";
export type { DiffOptions, EntryDiff, FieldChange, SnapshotDiff, ValueChange } from "./diff.js";
export { diffSnapshots, hasChanges, maskSensitive, SENSITIVE_MASK } from "./diff.js";
export type { DocumentView } from "./document.js";
export { documentSnapshot, documentView } from "./document.js";
export { MAX_JSON_DEPTH } from "./json.js";
export type { NanoClock, ParsedRevision } from "./revision.js";
export {
  compareRevisions,
  isValidRevision,
  MAX_REVISION_ATTEMPTS,
  newRevision,
  parseRevision,
  revisionTime,
  revisionWithSuffix,
  sortRevisions,
} from "./revision.js";
export type { TerraformStateHeader, TerraformView } from "./terraform.js";
export { parseTerraformState, TERRAFORM_STATE_MEDIA_TYPE, terraformView } from "./terraform.js";
export { formatRfc3339Nano, parseRfc3339 } from "./time.js";
export type {
  Entry,
  EntryType,
  FactoryInfo,
  JsonObject,
  JsonValue,
  Snapshot,
  StateDocument,
} from "./types.js";
export { ENTRY_TYPES, FORMAT_VERSION, MAX_SNAPSHOT_BYTES } from "./types.js";
export type { ValidateOptions } from "./validate.js";
export { validateSnapshot } from "./validate.js";
