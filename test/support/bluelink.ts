// Buckets laid out exactly as Bluelink's object-store state container writes them
// (github.com/newstack-cloud/bluelink, libs/blueprint-state), for the bluelink layout tests.
// Each helper names the Go function whose output it reproduces; none goes through
// statekeeper's deployment code, so a mistake in src/deployments/bluelink.ts cannot hide in both.
import { posix } from "node:path";
import type { ObjectStore } from "../../src/objectstore/index.js";
import { goMap } from "./unobin.js";

type Json = Record<string, unknown>;

/** `statestore.KeyBuilder` (statestore/keys.go): `path.Join(prefix, …)`, ids and names raw. */
export function bluelinkKeys(prefix: string) {
  const join = (...parts: string[]) => posix.join(prefix, ...parts);
  return {
    instance: (id: string) => join("instances", `${id}.json`),
    instanceByName: (name: string) => join("instances_by_name", `${name}.json`),
    resourceDrift: (id: string) => join("resource_drift", `${id}.json`),
    linkDrift: (id: string) => join("link_drift", `${id}.json`),
    changeset: (id: string) => join("changesets", `${id}.json`),
    validation: (id: string) => join("validations", `${id}.json`),
    reconciliationResult: (id: string) => join("reconciliation_results", `${id}.json`),
    cleanupOperation: (id: string) => join("cleanup_operations", `${id}.json`),
    eventPartition: (partitionName: string) => join(`events__${partitionName}.json`),
    eventIndex: () => join("event_index.json"),
  };
}

/** `json.Marshal`: compact, struct fields in the order given, encoding/json's default HTML escapes. */
export function goMarshal(value: unknown): Uint8Array {
  const text = JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/>/g, "\\u003e")
    .replace(/&/g, "\\u0026");
  return new TextEncoder().encode(text);
}

/** `state.ResourceState` (blueprint/state/state.go) as json.Marshal writes it, omitempty fields left out when empty. */
export function goResourceState(r: {
  id: string;
  name: string;
  type: string;
  instanceId: string;
  status: number;
  preciseStatus: number;
  lastDeployedTimestamp: number;
  lastDeployAttemptTimestamp: number;
  specData: unknown;
  failureReasons: string[] | null;
  description?: string;
  dependsOnResources?: string[];
  drifted?: boolean;
  lastDriftDetectedTimestamp?: number;
  durations?: Json;
}): Json {
  return {
    id: r.id,
    name: r.name,
    type: r.type,
    instanceId: r.instanceId,
    status: r.status,
    preciseStatus: r.preciseStatus,
    lastDeployedTimestamp: r.lastDeployedTimestamp,
    lastDeployAttemptTimestamp: r.lastDeployAttemptTimestamp,
    specData: r.specData,
    ...(r.description ? { description: r.description } : {}),
    ...(r.dependsOnResources?.length ? { dependsOnResources: r.dependsOnResources } : {}),
    failureReasons: r.failureReasons,
    ...(r.drifted ? { drifted: true } : {}),
    ...(r.lastDriftDetectedTimestamp !== undefined
      ? { lastDriftDetectedTimestamp: r.lastDriftDetectedTimestamp }
      : {}),
    ...(r.durations !== undefined ? { durations: r.durations } : {}),
  };
}

/** `state.LinkState` (blueprint/state/state.go). */
export function goLinkState(l: {
  id: string;
  name: string;
  instanceId: string;
  status: number;
  preciseStatus: number;
  lastDeployedTimestamp: number;
  lastDeployAttemptTimestamp: number;
  intermediaryResourceStates: Json[] | null;
  data: Json | null;
  resourceDataMappings?: Record<string, string>;
  failureReasons: string[] | null;
}): Json {
  return {
    id: l.id,
    name: l.name,
    instanceId: l.instanceId,
    status: l.status,
    preciseStatus: l.preciseStatus,
    lastDeployedTimestamp: l.lastDeployedTimestamp,
    lastDeployAttemptTimestamp: l.lastDeployAttemptTimestamp,
    intermediaryResourceStates: l.intermediaryResourceStates,
    data: l.data === null ? null : goMap(l.data),
    ...(l.resourceDataMappings ? { resourceDataMappings: goMap(l.resourceDataMappings) } : {}),
    failureReasons: l.failureReasons,
  };
}

/** The instance as Go holds it (`state.InstanceState`, children by id as in PersistedInstanceState). */
export interface GoInstance {
  id: string;
  name: string;
  status: number;
  lastStatusUpdateTimestamp: number;
  lastDeployedTimestamp: number;
  lastDeployAttemptTimestamp: number;
  resourceIds: Record<string, string> | null;
  resources: Record<string, Json> | null;
  links: Record<string, Json> | null;
  metadata: Json | null;
  exports: Record<string, Json> | null;
  childBlueprints: Record<string, string>;
  childDependencies?: Record<string, Json>;
  durations?: Json;
  version: number;
}

const mapOrNull = (m: Json | null) => (m === null ? null : goMap(m));

/**
 * `NewPersistedInstanceState` + json.Marshal (statestore/persisted.go): `id`, `name`, children
 * as an id map; `lastStatusUpdateTimestamp`, `childDependencies`, `durations` omitempty.
 */
export function goPersistedInstance(i: GoInstance): Json {
  return {
    id: i.id,
    name: i.name,
    status: i.status,
    ...(i.lastStatusUpdateTimestamp ? { lastStatusUpdateTimestamp: i.lastStatusUpdateTimestamp } : {}),
    lastDeployedTimestamp: i.lastDeployedTimestamp,
    lastDeployAttemptTimestamp: i.lastDeployAttemptTimestamp,
    resourceIds: mapOrNull(i.resourceIds),
    resources: mapOrNull(i.resources),
    links: mapOrNull(i.links),
    metadata: mapOrNull(i.metadata),
    exports: mapOrNull(i.exports),
    childBlueprints: goMap(i.childBlueprints),
    ...(i.childDependencies && Object.keys(i.childDependencies).length > 0
      ? { childDependencies: goMap(i.childDependencies) }
      : {}),
    ...(i.durations !== undefined ? { durations: i.durations } : {}),
    version: i.version,
  };
}

/** What one Bluelink process writes, object by object, through its `Service` (plain or conditional puts). */
export class BluelinkWriter {
  readonly keys: ReturnType<typeof bluelinkKeys>;
  /** The process's in-memory event partitions and `eventIndex` (statestore/state.go). */
  private readonly partitions = new Map<string, Json[]>();
  private readonly eventIndex: Record<string, { partition: string; indexInPartition: number }> = {};

  constructor(
    private readonly store: ObjectStore,
    prefix: string,
  ) {
    this.keys = bluelinkKeys(prefix);
  }

  /** `ServiceStorage.Write` (objectstore/service_storage.go): an unconditional Put. */
  private async write(key: string, value: unknown): Promise<void> {
    await this.store.put(key, goMarshal(value), {});
  }

  /**
   * `InitialiseAndClaim` (objectstore/initialise.go): the instance at version 1 with the status
   * and `lastStatusUpdateTimestamp = now`, IfNoneMatch "*"; then `writeNameRecord`, skipped for
   * an unnamed instance.
   */
  async initialiseAndClaim(instance: GoInstance, status: number, now: number): Promise<void> {
    const persisted = goPersistedInstance({
      ...instance,
      status,
      version: 1,
      lastStatusUpdateTimestamp: now,
    });
    await this.store.put(this.keys.instance(instance.id), goMarshal(persisted), { ifNoneMatch: "*" });
    if (instance.name !== "")
      await this.store.put(
        this.keys.instanceByName(instance.name),
        goMarshal({ id: instance.id, name: instance.name }),
        { ifNoneMatch: "*" },
      );
  }

  /**
   * `Persister.UpdateInstance` (statestore/persister.go): rewrites the instance object, then
   * `maybeRefreshNameRecord` writes `{id, name}` for the current name — a previous name's record
   * is left where it is.
   */
  async updateInstance(instance: GoInstance): Promise<void> {
    await this.write(this.keys.instance(instance.id), goPersistedInstance(instance));
    if (instance.name !== "")
      await this.write(this.keys.instanceByName(instance.name), { id: instance.id, name: instance.name });
  }

  /** `Persister.CreateResourceDrift` (per-entity): `state.ResourceDriftState` as is. */
  async createResourceDrift(drift: Json & { resourceId: string }): Promise<void> {
    await this.write(this.keys.resourceDrift(drift.resourceId), drift);
  }

  async createLinkDrift(drift: Json & { linkId: string }): Promise<void> {
    await this.write(this.keys.linkDrift(drift.linkId), drift);
  }

  /** `Persister.CreateChangeset`: `manage.Changeset` (`instanceId` and `changes` omitempty). */
  async createChangeset(changeset: Json & { id: string }): Promise<void> {
    await this.write(this.keys.changeset(changeset.id), changeset);
  }

  async createValidation(validation: Json & { id: string }): Promise<void> {
    await this.write(this.keys.validation(validation.id), validation);
  }

  async createReconciliationResult(result: Json & { id: string }): Promise<void> {
    await this.write(this.keys.reconciliationResult(result.id), result);
  }

  /** `manage.CleanupOperation`: `endedAt`, `errorMessage` omitempty. */
  async createCleanupOperation(operation: Json & { id: string }): Promise<void> {
    await this.write(this.keys.cleanupOperation(operation.id), operation);
  }

  /**
   * `EventsContainer.save` (statestore/container_events.go) + `Persister.SaveEventPartition`
   * (statestore/persister.go): the partition `<channelType>_<channelId>` sorted by id and written
   * whole as a JSON array, then the event's `{partition: "events__<name>", indexInPartition}`
   * set in the process's index and the whole index written to `event_index.json`.
   */
  async saveEvent(event: {
    id: string;
    type: string;
    channelType: string;
    channelId: string;
    data: string;
    timestamp: number;
    end: boolean;
  }): Promise<void> {
    const partitionName = `${event.channelType}_${event.channelId}`;
    const partition = [...(this.partitions.get(partitionName) ?? []), { ...event }].sort((a, b) =>
      (a.id as string) < (b.id as string) ? -1 : 1,
    );
    this.partitions.set(partitionName, partition);
    await this.write(this.keys.eventPartition(partitionName), partition);
    this.eventIndex[event.id] = {
      partition: `events__${partitionName}`,
      indexInPartition: partition.findIndex((e) => e.id === event.id),
    };
    await this.write(this.keys.eventIndex(), goMap(this.eventIndex));
  }
}
