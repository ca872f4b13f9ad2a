import { StateKeeperError } from "../errors.js";
import { checkName, setOwn } from "./codec.js";
import { type DeploymentCore, instanceNotFound, type StoredInstance } from "./core.js";
import type {
  InstanceState,
  InstanceStatusInfo,
  InstanceSummary,
  ListInstancesParams,
  ListInstancesResult,
} from "./types.js";

/**
 * An instance as given to `save`: the maps may be omitted (they default to empty), and so may
 * the name — an unnamed instance (name `""`) is stored and listed, has no name record, and no
 * lookup by name finds it (as in Bluelink).
 */
export type InstanceInput = Pick<InstanceState, "instanceId" | "status"> &
  Partial<Omit<InstanceState, "instanceId" | "status" | "childBlueprints">> & {
    /** Child name → child instance id, or the child itself (then saved as an instance of its own). */
    childBlueprints?: Record<string, InstanceInput | string>;
  };

export interface InstancesContainer {
  /** The instance with its children loaded, or `undefined`. Makes its resources and links reachable. */
  get(instanceId: string): Promise<InstanceState | undefined>;
  /**
   * The id holding `name`, through the name record (one read, never a listing; under the
   * bluelink layout one more, to skip a record Bluelink left behind on a rename). Unnamed
   * instances are never found.
   */
  lookupIdByName(name: string): Promise<string | undefined>;
  /** Case-insensitive name search, sorted by name, then offset/limit; `totalCount` before paging. */
  list(params?: ListInstancesParams): Promise<ListInstancesResult>;
  /** Creates or replaces an instance (and inline children), preserving any stored version. */
  save(instance: InstanceInput): Promise<void>;
  saveBatch(instances: readonly InstanceInput[]): Promise<void>;
  /** Instances in input order; `E_NOT_FOUND` listing every missing id in `details.missingIds`. */
  getBatch(instanceIds: readonly string[]): Promise<InstanceState[]>;
  /** `E_NOT_FOUND` when missing. Never changes the version. */
  updateStatus(instanceId: string, info: InstanceStatusInfo): Promise<void>;
  /** Removes the instance, its name record and its drift records; returns it. `E_NOT_FOUND` when missing. */
  remove(instanceId: string): Promise<InstanceState>;
}

export function instancesContainer(core: DeploymentCore): InstancesContainer {
  const holds = (id: string, name: string) => core.holdsName(id, name);

  const saveOne = async (input: InstanceInput, visiting: Set<string>): Promise<void> => {
    const record = await toStored(input, async (child) => {
      if (visiting.has(child.instanceId)) return;
      visiting.add(child.instanceId);
      await saveOne(child, visiting);
    });
    await core.names.claim(record.instanceName, record.instanceId, holds);
    const { before } = await core.instances.update(record.instanceId, (current) => ({
      put: { ...record, version: current?.version ?? record.version },
    }));
    if (before !== undefined && before.instanceName !== record.instanceName)
      await core.names.release(before.instanceName, record.instanceId);
  };

  return {
    async get(instanceId) {
      const stored = await core.instances.get(checkName("instance id", instanceId));
      return stored === undefined ? undefined : core.expand(stored);
    },

    async lookupIdByName(name) {
      if (name === "") return undefined;
      const holder = (await core.names.read(name))?.instanceId;
      if (holder === undefined || core.layout !== "bluelink") return holder;
      // Bluelink keeps a renamed instance's old name record ("self-corrected on lookup",
      // Persister.UpdateInstance, statestore/persister.go): only a record its instance agrees with counts.
      // A cached copy may predate a rename by another process: a mismatch is read again.
      if ((await core.instances.get(holder))?.instanceName === name) return holder;
      return (await core.instances.reload(holder))?.instanceName === name ? holder : undefined;
    },

    async list(params = {}) {
      const offset = checkCount("offset", params.offset ?? 0);
      const limit = params.limit === undefined ? undefined : checkCount("limit", params.limit);
      const search = params.search?.toLowerCase() ?? "";
      const matches = (await core.instances.all())
        .filter((i) => i.instanceName.toLowerCase().includes(search))
        .sort(
          (a, b) => compareNames(a.instanceName, b.instanceName) || compareNames(a.instanceId, b.instanceId),
        );
      const page = matches.slice(offset, limit === undefined ? undefined : offset + limit);
      return { instances: page.map(summary), totalCount: matches.length };
    },

    async save(instance) {
      checkInstanceInput(core, instance);
      await saveOne(instance, new Set([instance.instanceId]));
    },

    async saveBatch(instances) {
      for (const instance of instances) checkInstanceInput(core, instance);
      for (const instance of instances) await saveOne(instance, new Set([instance.instanceId]));
    },

    async getBatch(instanceIds) {
      const found = await Promise.all(
        instanceIds.map((id) => core.instances.get(checkName("instance id", id))),
      );
      const missingIds = instanceIds.filter((_, i) => found[i] === undefined);
      if (missingIds.length > 0)
        throw new StateKeeperError("E_NOT_FOUND", `instances not found: ${missingIds.join(", ")}`, {
          details: { missingIds },
        });
      return Promise.all(found.map((i) => core.expand(i as StoredInstance)));
    },

    async updateStatus(instanceId, info) {
      await core.mutateInstance(instanceId, (instance) => {
        instance.status = info.status;
        instance.lastStatusUpdateTimestamp = info.lastStatusUpdateTimestamp ?? core.nowSeconds();
        if (info.lastDeployedTimestamp !== undefined)
          instance.lastDeployedTimestamp = info.lastDeployedTimestamp;
        if (info.lastDeployAttemptTimestamp !== undefined)
          instance.lastDeployAttemptTimestamp = info.lastDeployAttemptTimestamp;
        if (info.durations !== undefined) instance.durations = info.durations;
      });
    },

    async remove(instanceId) {
      checkName("instance id", instanceId);
      const removed = await core.instances.remove(instanceId);
      if (removed === undefined) throw instanceNotFound(instanceId);
      await core.names.release(removed.instanceName, instanceId);
      for (const resourceId of Object.keys(removed.resources)) await core.resourceDrift.remove(resourceId);
      for (const linkId of Object.keys(removed.links)) await core.linkDrift.remove(linkId);
      return core.expand(removed);
    },
  };
}

/**
 * Refuses, before any I/O, an instance (or an inline child, recursively) whose id or name is
 * malformed or not storable under the store's layout (`E_INVALID_NAME`). An empty name is fine.
 */
export function checkInstanceInput(
  core: DeploymentCore,
  input: InstanceInput,
  seen = new Set<string>(),
): void {
  core.instances.checkId(checkName("instance id", input.instanceId));
  const name = input.instanceName ?? "";
  if (typeof name !== "string") checkName("instance name", name);
  if (name !== "") core.names.check(checkName("instance name", name));
  seen.add(input.instanceId);
  for (const child of Object.values(input.childBlueprints ?? {})) {
    if (typeof child === "string") core.instances.checkId(checkName("child instance id", child));
    else if (!seen.has(child.instanceId)) checkInstanceInput(core, child, seen);
  }
}

/** Fills defaults, checks names, and saves inline children through `saveChild` (stored by id). */
export async function toStored(
  input: InstanceInput,
  saveChild: (child: InstanceInput) => Promise<void>,
): Promise<StoredInstance> {
  checkName("instance id", input.instanceId);
  const instanceName = input.instanceName ?? "";
  if (instanceName !== "") checkName("instance name", instanceName);
  const childBlueprints: Record<string, string> = {};
  for (const [name, child] of Object.entries(input.childBlueprints ?? {})) {
    if (typeof child === "string") setOwn(childBlueprints, name, checkName("child instance id", child));
    else {
      await saveChild(child);
      setOwn(childBlueprints, name, child.instanceId);
    }
  }
  const version = input.version ?? 0;
  if (!Number.isSafeInteger(version) || version < 0)
    throw new StateKeeperError("E_INVALID_ARGUMENT", `instance version must be a non-negative integer`, {
      details: { instanceId: input.instanceId, version },
    });
  return {
    ...structuredClone(input),
    instanceName,
    resourceIds: structuredClone(input.resourceIds ?? {}),
    resources: structuredClone(input.resources ?? {}),
    links: structuredClone(input.links ?? {}),
    metadata: structuredClone(input.metadata ?? {}),
    exports: structuredClone(input.exports ?? {}),
    childDependencies: structuredClone(input.childDependencies ?? {}),
    childBlueprints,
    version,
  };
}

function summary(instance: StoredInstance): InstanceSummary {
  const row: InstanceSummary = {
    instanceId: instance.instanceId,
    instanceName: instance.instanceName,
    status: instance.status,
  };
  if (instance.lastDeployedTimestamp !== undefined)
    row.lastDeployedTimestamp = instance.lastDeployedTimestamp;
  return row;
}

function compareNames(a: string, b: string): number {
  const la = a.toLowerCase();
  const lb = b.toLowerCase();
  if (la !== lb) return la < lb ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function checkCount(what: string, n: number): number {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new StateKeeperError("E_INVALID_ARGUMENT", `${what} must be a non-negative integer`, {
      details: { [what]: n },
    });
  return n;
}
