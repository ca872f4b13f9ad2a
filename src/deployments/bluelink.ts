// Bluelink's object-store state container, as its Go code lays a bucket out
// (github.com/newstack-cloud/bluelink, libs/blueprint-state): the key names and id encoding of
// `statestore.KeyBuilder` (statestore/keys.go) and the JSON field names of the Go structs each
// object is marshalled from (blueprint/state/state.go, statestore/persisted.go, manage/*.go).
// Used by the deployment store's `layout: "bluelink"` (docs/deployments.md).
import { posix } from "node:path";
import { InvalidNameError, StateKeeperError } from "../errors.js";
import { validateKey } from "../objectstore/kit.js";
import { asRecord } from "./codec.js";
import type { ObjectFormat } from "./compare-and-swap.js";
import type { Event } from "./types.js";

/**
 * The key of one record under Bluelink's scheme: `KeyBuilder.join` (statestore/keys.go) is
 * `path.Join(prefix, folder, id + ".json")`, the id written raw. That is lossy — `path.Join`
 * cleans `a//b`, `./a`, `a/../b` into other ids' keys — so an id is accepted only when its key is
 * exactly the plain concatenation and a valid store key: then key ↔ id is one-to-one and no two
 * ids can share an object. Anything else is refused before any I/O, naming the key it would
 * collide on.
 */
export function bluelinkKey(
  what: string,
  id: string,
  prefix: string,
  folder: string,
  suffix = ".json",
): string {
  const key = `${prefix}${folder}${id}${suffix}`;
  const cleaned = posix.join(prefix, `${folder}${id}${suffix}`);
  if (cleaned !== key)
    throw new InvalidNameError(
      what,
      id,
      `Bluelink's KeyBuilder (path.Join) would store it at ${JSON.stringify(cleaned)}, a key another id can have, so it is refused`,
    );
  try {
    validateKey(key);
  } catch (cause) {
    throw new InvalidNameError(
      what,
      id,
      `not storable under Bluelink's key scheme (${(cause as Error).message})`,
    );
  }
  return key;
}

type Json = Record<string, unknown>;

/** Renames `from` to `to`, keeping every other field (Bluelink fields statekeeper does not model survive). */
function renamed(record: Json, from: string, to: string): Json {
  if (!Object.hasOwn(record, from)) return record;
  const { [from]: value, ...rest } = record;
  return { [to]: value, ...rest };
}

function mapValues(map: unknown, f: (value: Json) => Json): Json {
  if (typeof map !== "object" || map === null) return {};
  return Object.fromEntries(Object.entries(map).map(([k, v]) => [k, f(asObject(v))]));
}

function asObject(value: unknown): Json {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Json) : {};
}

/** Fields Go's `json.Marshal` always writes (no `omitempty`), with the zero value it writes for them. */
function withGoDefaults(record: Json, defaults: Json): Json {
  const out: Json = { ...record };
  for (const [field, zero] of Object.entries(defaults)) if (out[field] === undefined) out[field] = zero;
  return out;
}

/** Go writes `null` for a nil slice or map; statekeeper's model leaves such a field out. */
function withoutNulls(record: Json, fields: readonly string[]): Json {
  const out: Json = { ...record };
  for (const field of fields) if (out[field] === null) delete out[field];
  return out;
}

/** `omitempty` on a value field: Go leaves out false, 0, "", nil and empty slices and maps. */
function omitEmpty(record: Json, fields: readonly string[]): Json {
  for (const field of fields) {
    const v = record[field];
    if (
      v === undefined ||
      v === null ||
      v === false ||
      v === 0 ||
      v === "" ||
      (typeof v === "object" && Object.keys(v as object).length === 0)
    )
      delete record[field];
  }
  return record;
}

/** `omitempty` on a pointer field: Go leaves out only nil. */
function omitNil(record: Json, fields: readonly string[]): Json {
  for (const field of fields) if (record[field] === undefined || record[field] === null) delete record[field];
  return record;
}

// state.ResourceState (blueprint/state/state.go): `id`, not `resourceId`.
function resourceToBluelink(r: Json): Json {
  const out = withGoDefaults(renamed(r, "resourceId", "id"), {
    preciseStatus: 0,
    lastDeployedTimestamp: 0,
    lastDeployAttemptTimestamp: 0,
    specData: null,
    failureReasons: null,
  });
  omitEmpty(out, [
    "templateName",
    "lastStatusUpdateTimestamp",
    "computedFields",
    "description",
    "dependsOnResources",
    "dependsOnChildren",
    "drifted",
    "removalPolicy",
  ]);
  return omitNil(out, ["metadata", "systemMetadata", "lastDriftDetectedTimestamp", "durations"]);
}
function resourceFromBluelink(r: Json): Json {
  return withoutNulls(renamed(r, "id", "resourceId"), ["failureReasons", "durations"]);
}

// state.LinkState (blueprint/state/state.go): `id`, not `linkId`.
function linkToBluelink(l: Json): Json {
  const out = withGoDefaults(renamed(l, "linkId", "id"), {
    preciseStatus: 0,
    lastDeployedTimestamp: 0,
    lastDeployAttemptTimestamp: 0,
    intermediaryResourceStates: null,
    data: null,
    failureReasons: null,
  });
  omitEmpty(out, ["lastStatusUpdateTimestamp", "resourceDataMappings", "drifted"]);
  return omitNil(out, ["lastDriftDetectedTimestamp", "durations"]);
}
function linkFromBluelink(l: Json): Json {
  return withoutNulls(renamed(l, "id", "linkId"), ["failureReasons", "data", "durations"]);
}

// Maps statekeeper's model always has (Go writes nil as null, and omits an empty childDependencies).
const INSTANCE_MAPS = [
  "resourceIds",
  "resources",
  "links",
  "metadata",
  "exports",
  "childBlueprints",
  "childDependencies",
];

/** An instance record as `NewPersistedInstanceState` + `json.Marshal` write it (statestore/persisted.go). */
export function instanceToBluelink(instance: Json): Json {
  const out = withGoDefaults(renamed(renamed(instance, "instanceId", "id"), "instanceName", "name"), {
    name: "",
    lastDeployedTimestamp: 0,
    lastDeployAttemptTimestamp: 0,
    resourceIds: {},
    resources: {},
    links: {},
    metadata: {},
    exports: {},
    childBlueprints: {},
    version: 0,
  });
  out.resources = mapValues(out.resources, resourceToBluelink);
  out.links = mapValues(out.links, linkToBluelink);
  // state.ExportState, state.DependencyInfo: `description`, `dependsOn…` are omitempty.
  out.exports = mapValues(out.exports, (e) => omitEmpty({ ...e }, ["description"]));
  if (out.childDependencies !== undefined && out.childDependencies !== null)
    out.childDependencies = mapValues(out.childDependencies, (d) =>
      omitEmpty({ ...d }, ["dependsOnResources", "dependsOnChildren"]),
    );
  omitEmpty(out, ["lastStatusUpdateTimestamp", "childDependencies"]);
  return omitNil(out, ["durations"]);
}

/** An instance as `ToInstanceState` reads it (statestore/persisted.go); nil maps become empty ones. */
export function instanceFromBluelink(stored: Json): Json {
  const out = renamed(renamed(stored, "id", "instanceId"), "name", "instanceName");
  if (typeof out.instanceName !== "string") out.instanceName = "";
  for (const field of INSTANCE_MAPS) if (out[field] === null || out[field] === undefined) out[field] = {};
  out.resources = mapValues(out.resources, resourceFromBluelink);
  out.links = mapValues(out.links, linkFromBluelink);
  if (out.durations === null) delete out.durations;
  if (typeof out.version !== "number") out.version = 0;
  return out;
}

/** The JSON Go's `json.Marshal` writes for each per-entity kind (manage/*.go, blueprint/state/state.go). */
const KIND_TO_GO: Record<string, (record: Json) => Json> = {
  // state.ResourceDriftState / state.LinkDriftState: same field names as statekeeper's.
  resource_drift: (r) => omitNil(withGoDefaults(r, { specData: null, difference: null }), ["timestamp"]),
  link_drift: (r) =>
    omitEmpty(omitNil({ ...r }, ["resourceADrift", "resourceBDrift", "timestamp"]), ["intermediaryDrift"]),
  // manage.Changeset, manage.BlueprintValidation, manage.ReconciliationResult, manage.CleanupOperation.
  changesets: (r) => omitNil(omitEmpty(withGoDefaults(r, { destroy: false }), ["instanceId"]), ["changes"]),
  validations: (r) => ({ ...r }),
  reconciliation_results: (r) => withGoDefaults(r, { result: null }),
  cleanup_operations: (r) => omitEmpty(withGoDefaults(r, { itemsDeleted: 0 }), ["endedAt", "errorMessage"]),
};

/** How statekeeper's record of `kind` maps to the JSON Bluelink's Go code marshals for it. */
export function bluelinkRecordFormat<T>(kind: string): ObjectFormat<T> {
  if (kind === "instances")
    return {
      decode: (parsed, key) => instanceFromBluelink(asRecord<Json>(parsed, key)) as T,
      encode: (record) => instanceToBluelink(record as Json),
    };
  const toGo = KIND_TO_GO[kind];
  if (toGo === undefined)
    throw new StateKeeperError("E_INTERNAL", `no Bluelink record format for ${kind}`, { details: { kind } });
  return {
    decode: (parsed, key) => asRecord<T>(parsed, key),
    encode: (record) => toGo(record as Json),
  };
}

/**
 * `statestore.InstanceNameRecord` (statestore/persisted.go): `{id, name}` at
 * `instances_by_name/<name>.json` (`KeyBuilder.InstanceByName`).
 */
export function bluelinkNameRecordFormat(name: string): ObjectFormat<string> {
  return {
    decode(parsed, key) {
      const record = asRecord<{ id?: unknown }>(parsed, key);
      if (typeof record.id !== "string")
        throw new StateKeeperError("E_CORRUPT", `name record ${key} has no id`, { details: { key } });
      return record.id;
    },
    encode: (instanceId) => ({ id: instanceId, name }),
  };
}

/**
 * An event partition as `Persister.SaveEventPartition` writes it (statestore/persister.go):
 * `json.Marshal([]*manage.Event)`, a bare JSON array.
 */
export const bluelinkPartitionFormat: ObjectFormat<Event[]> = {
  decode(parsed, key) {
    if (!Array.isArray(parsed))
      throw new StateKeeperError("E_CORRUPT", `event partition ${key} is not a JSON array`, {
        details: { key },
      });
    return parsed as Event[];
  },
  encode: (events) => events,
};

/** `statestore.EventIndexLocation` (statestore/state.go), the values of `event_index.json`. */
export interface EventIndexLocation {
  /** `"events__" + partitionName` (`toPartitionFileBaseName`, statestore/persister.go). */
  partition: string;
  indexInPartition: number;
}
export type EventIndex = Record<string, EventIndexLocation>;

export const bluelinkEventIndexFormat: ObjectFormat<EventIndex> = {
  decode(parsed, key) {
    const index = asRecord<Json>(parsed, key) as EventIndex;
    return index;
  },
  encode: (index) => index,
};

/** `KeyBuilder.EventIndex` (statestore/keys.go). */
export function bluelinkEventIndexKey(prefix: string): string {
  return `${prefix}event_index.json`;
}
