import { formatJsonPath, isPlainObject, type JsonPath } from "./json.js";
import { compareCodePoints } from "./revision.js";
import type { Entry, JsonObject, JsonValue, Snapshot } from "./types.js";

/**
 * What changed between two snapshots, for the CLI's `diff`. Values of sensitive fields are
 * masked unless the caller asks otherwise; a change to them is still reported.
 */

/** Shown instead of a value that came from a sensitive source. */
export const SENSITIVE_MASK = "(sensitive)";

export interface DiffOptions {
  /** Show the real values of sensitive inputs/outputs. Default false: they read "(sensitive)". */
  showSensitive?: boolean;
}

/** A change at `path` (`tags.env`, `list[2]`); `before` is absent when added, `after` when removed. */
export interface ValueChange {
  path: string;
  before?: JsonValue;
  after?: JsonValue;
}

/** A change to a non-map entry field (`kind`, `schemaVersion`, `sensitiveInputs`, …), or a snapshot field. */
export interface FieldChange {
  field: string;
  before?: JsonValue;
  after?: JsonValue;
}

export interface EntryDiff {
  address: string;
  fields: FieldChange[];
  inputs: ValueChange[];
  outputs: ValueChange[];
  dependsOn: { added: string[]; removed: string[] };
}

export interface SnapshotDiff {
  /** Factory info and stack changes (`factory.version`, …); `generatedAt` is not compared. */
  snapshot: FieldChange[];
  /** Entries only in the second snapshot, by address. */
  added: Entry[];
  /** Entries only in the first snapshot, by address. */
  removed: Entry[];
  /** Entries in both that differ, by address. */
  changed: EntryDiff[];
  /** Snapshot-level outputs. */
  outputs: ValueChange[];
}

const SCALAR_FIELDS = [
  "type",
  "kind",
  "schemaVersion",
  "library",
  "libraryType",
  "configuration",
  "triggerHash",
  "sensitiveInputs",
  "sensitiveOutputs",
] as const;

function ownValue(map: JsonObject | undefined, key: string): JsonValue | undefined {
  return map !== undefined && Object.hasOwn(map, key) ? map[key] : undefined;
}

function jsonEqual(a: JsonValue | undefined, b: JsonValue | undefined): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = Object.keys(a);
    if (keys.length !== Object.keys(b).length) return false;
    return keys.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k] as JsonValue, b[k] as JsonValue));
  }
  return false;
}

function change(path: JsonPath, before: JsonValue | undefined, after: JsonValue | undefined): ValueChange {
  return {
    path: formatJsonPath(path),
    ...(before === undefined ? {} : { before }),
    ...(after === undefined ? {} : { after }),
  };
}

function diffValues(
  before: JsonValue | undefined,
  after: JsonValue | undefined,
  path: Array<string | number>,
  out: ValueChange[],
): void {
  if (jsonEqual(before, after)) return;
  if (isPlainObject(before) && isPlainObject(after)) {
    for (const key of unionKeys(before as JsonObject, after as JsonObject)) {
      path.push(key);
      diffValues(ownValue(before as JsonObject, key), ownValue(after as JsonObject, key), path, out);
      path.pop();
    }
  } else if (Array.isArray(before) && Array.isArray(after)) {
    for (let i = 0; i < Math.max(before.length, after.length); i++) {
      path.push(i);
      diffValues(before[i], after[i], path, out);
      path.pop();
    }
  } else out.push(change(path, before, after));
}

function unionKeys(a: JsonObject | undefined, b: JsonObject | undefined): string[] {
  return [...new Set([...Object.keys(a ?? {}), ...Object.keys(b ?? {})])].sort(compareCodePoints);
}

function diffMaps(
  before: JsonObject | undefined,
  after: JsonObject | undefined,
  sensitive: ReadonlySet<string>,
): ValueChange[] {
  const out: ValueChange[] = [];
  for (const key of unionKeys(before, after)) {
    const b = ownValue(before, key);
    const a = ownValue(after, key);
    if (!sensitive.has(key)) diffValues(b, a, [key], out);
    // One change at the top-level key: nested paths would reveal the secret's shape.
    else if (!jsonEqual(b, a))
      out.push(change([key], b === undefined ? b : SENSITIVE_MASK, a === undefined ? a : SENSITIVE_MASK));
  }
  return out;
}

function diffLists(before: readonly string[] = [], after: readonly string[] = []) {
  const b = new Set(before);
  const a = new Set(after);
  return { added: [...a].filter((x) => !b.has(x)), removed: [...b].filter((x) => !a.has(x)) };
}

function sensitiveKeys(a: readonly string[] | undefined, b: readonly string[] | undefined): Set<string> {
  return new Set([...(a ?? []), ...(b ?? [])]);
}

function maskMap(map: JsonObject | undefined, keys: readonly string[] | undefined): JsonObject | undefined {
  if (map === undefined || keys === undefined || keys.length === 0) return map;
  const masked = new Set(keys);
  // fromEntries defines properties, so a "__proto__" key stays a key instead of becoming a prototype.
  return Object.fromEntries(Object.entries(map).map(([k, v]) => [k, masked.has(k) ? SENSITIVE_MASK : v]));
}

/** A copy of `entry` whose sensitive input/output values read "(sensitive)". */
export function maskSensitive(entry: Entry): Entry {
  const out: Entry = { ...entry };
  const inputs = maskMap(entry.inputs, entry.sensitiveInputs);
  const outputs = maskMap(entry.outputs, entry.sensitiveOutputs);
  if (inputs !== undefined) out.inputs = inputs;
  if (outputs !== undefined) out.outputs = outputs;
  return out;
}

function diffEntry(before: Entry, after: Entry, showSensitive: boolean): EntryDiff | undefined {
  const fields: FieldChange[] = [];
  for (const field of SCALAR_FIELDS) {
    const b = before[field];
    const a = after[field];
    if (!jsonEqual(b, a))
      fields.push({
        field,
        ...(b === undefined ? {} : { before: b }),
        ...(a === undefined ? {} : { after: a }),
      });
  }
  const none = new Set<string>();
  const inputs = diffMaps(
    before.inputs,
    after.inputs,
    showSensitive ? none : sensitiveKeys(before.sensitiveInputs, after.sensitiveInputs),
  );
  const outputs = diffMaps(
    before.outputs,
    after.outputs,
    showSensitive ? none : sensitiveKeys(before.sensitiveOutputs, after.sensitiveOutputs),
  );
  const dependsOn = diffLists(before.dependsOn, after.dependsOn);
  const same =
    fields.length === 0 &&
    inputs.length === 0 &&
    outputs.length === 0 &&
    dependsOn.added.length === 0 &&
    dependsOn.removed.length === 0;
  return same ? undefined : { address: after.address, fields, inputs, outputs, dependsOn };
}

/** Entry-by-entry differences from `before` to `after`, matched by address. */
export function diffSnapshots(before: Snapshot, after: Snapshot, options: DiffOptions = {}): SnapshotDiff {
  const showSensitive = options.showSensitive ?? false;
  const shown = (e: Entry): Entry => (showSensitive ? e : maskSensitive(e));
  const byAddress = (e: readonly Entry[]) => new Map(e.map((x) => [x.address, x] as const));
  const beforeMap = byAddress(before.entries);
  const afterMap = byAddress(after.entries);
  const addresses = [...new Set([...beforeMap.keys(), ...afterMap.keys()])].sort(compareCodePoints);

  const result: SnapshotDiff = { snapshot: [], added: [], removed: [], changed: [], outputs: [] };
  const snapshotFields: Array<[string, string, string]> = [
    ["factory.name", before.factory.name, after.factory.name],
    ["factory.version", before.factory.version, after.factory.version],
    ["factory.contentRevision", before.factory.contentRevision, after.factory.contentRevision],
    ["stack", before.stack, after.stack],
  ];
  for (const [field, b, a] of snapshotFields)
    if (b !== a) result.snapshot.push({ field, before: b, after: a });

  for (const address of addresses) {
    const b = beforeMap.get(address);
    const a = afterMap.get(address);
    if (b === undefined && a !== undefined) result.added.push(shown(a));
    else if (a === undefined && b !== undefined) result.removed.push(shown(b));
    else if (a !== undefined && b !== undefined) {
      const d = diffEntry(b, a, showSensitive);
      if (d !== undefined) result.changed.push(d);
    }
  }
  result.outputs = diffMaps(before.outputs, after.outputs, new Set());
  return result;
}

/** `diffSnapshots`, with how many entries both hold unchanged (what `Backend.diff` returns). */
export function diffCounted(
  before: Snapshot,
  after: Snapshot,
  options: DiffOptions = {},
): SnapshotDiff & { unchanged: number } {
  const d = diffSnapshots(before, after, options);
  return { ...d, unchanged: after.entries.length - d.added.length - d.changed.length };
}

/** True when the diff reports anything at all. */
export function hasChanges(d: SnapshotDiff): boolean {
  return d.snapshot.length + d.added.length + d.removed.length + d.changed.length + d.outputs.length > 0;
}
