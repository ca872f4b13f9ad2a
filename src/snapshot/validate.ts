import { StateKeeperError, truncateForMessage } from "../errors.js";
import { assertJsonValue, formatJsonPath, isPlainObject, MAX_JSON_DEPTH, NotJsonError } from "./json.js";
import { parseRfc3339 } from "./time.js";
import { ENTRY_TYPES, type EntryType, FORMAT_VERSION, type Snapshot } from "./types.js";

/**
 * Snapshot validation. Messages name the entry (index and address) and the rule broken, never
 * a value: inputs and outputs may hold secrets.
 */

function invalid(message: string, details: Record<string, unknown> = {}): never {
  throw new StateKeeperError("E_INVALID_SNAPSHOT", message, { details });
}

/** `entry 3 ("aws.s3.logs")`, or `entry 3` when the address itself is unusable. */
export function describeEntry(index: number, address: unknown): string {
  return typeof address === "string" && address !== ""
    ? `entry ${index} (${JSON.stringify(truncateForMessage(address))})`
    : `entry ${index}`;
}

function entryError(index: number, address: unknown, rule: string): never {
  return invalid(`${describeEntry(index, address)}: ${rule}`, {
    index,
    ...(typeof address === "string" && address !== "" ? { address: truncateForMessage(address) } : {}),
    rule,
  });
}

/** Turns a non-JSON value found inside a snapshot into an error naming where it was. */
export function notJsonToError(e: NotJsonError, where: string): StateKeeperError {
  const path = formatJsonPath(e.path);
  return new StateKeeperError(
    "E_INVALID_SNAPSHOT",
    `${where}${path === "" ? "" : ` at ${truncateForMessage(path)}`}: ${e.reason}`,
    { details: { path: truncateForMessage(path), rule: "not JSON" } },
  );
}

export interface ValidateOptions {
  /** Check every value inside inputs/outputs too (encode skips this: it checks while writing). */
  deep?: boolean;
}

/**
 * How deep inputs/outputs are checked: not at all, every value (`true`), or, for values made by
 * `JSON.parse`, only their depth (`"parsed"`): such a value holds no undefined, NaN, function,
 * class instance, cycle or hole, so of the deep checks only the depth can fail. When it does, the
 * full walk runs and gives the same error.
 */
type Depth = boolean | "parsed";

/** The deepest level of `value` is within `MAX_JSON_DEPTH` (counting as `assertJsonValue` does). */
function withinDepth(value: unknown, depth: number): boolean {
  if (typeof value !== "object" || value === null) return true;
  if (depth >= MAX_JSON_DEPTH) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!withinDepth(value[i], depth + 1)) return false;
  } else
    for (const key in value)
      if (!withinDepth((value as Record<string, unknown>)[key], depth + 1)) return false;
  return true;
}

function checkFreeForm(
  value: unknown,
  where: () => string,
  field: string,
  deep: Depth,
  fail: (r: string) => never,
) {
  if (value === undefined) return;
  if (!isPlainObject(value)) fail(`${field} must be a JSON object`);
  if (!deep || (deep === "parsed" && withinDepth(value, 0))) return;
  try {
    assertJsonValue(value, [field]);
  } catch (e) {
    if (e instanceof NotJsonError) throw notJsonToError(e, where());
    throw e;
  }
}

function validateEntry(entry: unknown, index: number, deep: Depth): string {
  if (entry === null || entry === undefined) entryError(index, undefined, "is null");
  if (!isPlainObject(entry)) entryError(index, undefined, "is not an object");
  const e = entry;
  const address = e.address;
  const fail = (rule: string): never => entryError(index, address, rule);
  if (address === undefined || address === null || address === "") fail("missing address");
  if (typeof address !== "string") fail("address must be a string");
  const type = e.type;
  if (type === undefined || type === null || type === "") fail("missing type");
  if (typeof type !== "string" || !ENTRY_TYPES.includes(type as EntryType))
    fail(`unknown type ${JSON.stringify(truncateForMessage(String(type), 40))}`);

  for (const field of ["kind", "library", "libraryType", "configuration", "triggerHash"] as const) {
    if (e[field] !== undefined && typeof e[field] !== "string") fail(`${field} must be a string`);
  }
  const sv = e.schemaVersion;
  if (sv !== undefined && (typeof sv !== "number" || !Number.isSafeInteger(sv) || sv < 0))
    fail("schemaVersion must be a non-negative integer");
  for (const field of ["sensitiveInputs", "sensitiveOutputs", "dependsOn"] as const) {
    const list = e[field];
    if (list !== undefined && (!Array.isArray(list) || !list.every((x) => typeof x === "string")))
      fail(`${field} must be a list of strings`);
  }
  // Named only when a value is refused: building the name for every entry costs more than the checks.
  const where = () => describeEntry(index, address);
  checkFreeForm(e.inputs, where, "inputs", deep, fail);
  checkFreeForm(e.outputs, where, "outputs", deep, fail);

  if ((type === "leaf" || type === "action") && (e.kind === undefined || e.kind === ""))
    fail(`missing kind (required for ${type})`);
  if (type === "library-call") {
    if (e.library === undefined || e.library === "") fail("missing library (required for library-call)");
    if (e.libraryType === undefined || e.libraryType === "")
      fail("missing library-type (required for library-call)");
  }
  return address as string;
}

/**
 * Throws `E_INVALID_SNAPSHOT` unless `s` is a well-formed snapshot: factory info and stack set,
 * an RFC3339 `generatedAt`, no null entries, every entry with a non-empty unique address and the
 * fields its type requires, every field of the right type. `formatVersion` other than 1 is
 * `E_FORMAT_VERSION`.
 */
export function validateSnapshot(s: unknown, options: ValidateOptions = {}): asserts s is Snapshot {
  check(s, options.deep ?? true);
}

/**
 * `validateSnapshot` of a snapshot whose entries were decoded from stored text (`JSON.parse`): as
 * strict, walking inputs and outputs for their depth only (see `Depth`). Decoders only: a value
 * built in memory may hold anything.
 */
export function validateDecodedSnapshot(s: unknown): asserts s is Snapshot {
  check(s, true, "parsed");
}

function check(s: unknown, deep: boolean, entryDepth: Depth = deep): asserts s is Snapshot {
  if (!isPlainObject(s)) invalid("snapshot must be an object");
  if (s.formatVersion !== FORMAT_VERSION)
    throw new StateKeeperError(
      "E_FORMAT_VERSION",
      `unsupported format-version ${truncateForMessage(String(s.formatVersion), 40)} (this build expects ${FORMAT_VERSION})`,
      { details: { found: s.formatVersion, expected: FORMAT_VERSION } },
    );
  const factory = s.factory;
  if (!isPlainObject(factory)) invalid("factory info must be an object", { rule: "factory" });
  if (typeof factory.name !== "string" || factory.name === "")
    invalid("factory name must be a non-empty string", { rule: "factory" });
  for (const field of ["version", "contentRevision"] as const) {
    if (typeof factory[field] !== "string") invalid(`factory ${field} must be a string`, { rule: "factory" });
  }
  if (typeof s.stack !== "string" || s.stack === "")
    invalid("stack (deployment-id) must be a non-empty string", { rule: "stack" });
  if (typeof s.generatedAt !== "string" || parseRfc3339(s.generatedAt) === undefined)
    invalid("generatedAt must be an RFC3339 timestamp", { rule: "generatedAt" });
  if (!Array.isArray(s.entries)) invalid("entries must be a list", { rule: "entries" });
  if (s.document !== undefined) {
    const d = s.document;
    if (!isPlainObject(d) || typeof d.mediaType !== "string" || typeof d.text !== "string")
      invalid("document must be an object with a mediaType and a text string", { rule: "document" });
  }
  // The snapshot's own outputs are few: walked in full (a backend may hand back a caller's object).
  checkFreeForm(
    s.outputs,
    () => "snapshot",
    "outputs",
    deep,
    (rule) => invalid(`snapshot ${rule}`, { rule }),
  );

  const seen = new Map<string, number>();
  // A plain loop, not forEach: a hole in a sparse array is a missing entry, not one to skip.
  for (let index = 0; index < s.entries.length; index++) {
    const address = validateEntry(s.entries[index], index, entryDepth);
    const first = seen.get(address);
    if (first !== undefined) entryError(index, address, `duplicate address (first used by entry ${first})`);
    seen.set(address, index);
  }
}
