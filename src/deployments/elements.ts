import { StateKeeperError } from "../errors.js";
import { checkName, ownValue, setOwn } from "./codec.js";
import { type DeploymentCore, elementNotFound, type StoredInstance } from "./core.js";
import type {
  ElementStatusInfo,
  LinkDriftState,
  LinkState,
  ResourceDriftState,
  ResourceState,
} from "./types.js";

/**
 * Resources live inline in their instance record. `get`, `updateStatus`, `remove` and the drift
 * calls find a resource by id among the instances this process has loaded (any instance read
 * or write loads it); `getByName` and `save` name the instance and need nothing loaded first.
 */
export interface ResourcesContainer {
  get(resourceId: string): Promise<ResourceState | undefined>;
  getByName(instanceId: string, resourceName: string): Promise<ResourceState | undefined>;
  /** Creates or replaces the resource in `resource.instanceId` (`E_NOT_FOUND` if that is missing). */
  save(resource: ResourceState): Promise<void>;
  updateStatus(resourceId: string, info: ElementStatusInfo): Promise<void>;
  /** Removes the resource and its drift record; returns it. */
  remove(resourceId: string): Promise<ResourceState>;
  getDrift(resourceId: string): Promise<ResourceDriftState | undefined>;
  /** Stores the drift and marks the resource drifted. */
  saveDrift(drift: ResourceDriftState): Promise<void>;
  /** Removes the drift (returning it) and clears the resource's drifted mark. */
  removeDrift(resourceId: string): Promise<ResourceDriftState | undefined>;
}

export interface LinksContainer {
  get(linkId: string): Promise<LinkState | undefined>;
  getByName(instanceId: string, linkName: string): Promise<LinkState | undefined>;
  /** Links of the instance with a data mapping into `resourceName` (a key starting `<resourceName>::`). */
  listWithResourceDataMappings(instanceId: string, resourceName: string): Promise<LinkState[]>;
  save(link: LinkState): Promise<void>;
  updateStatus(linkId: string, info: ElementStatusInfo): Promise<void>;
  remove(linkId: string): Promise<LinkState>;
  getDrift(linkId: string): Promise<LinkDriftState | undefined>;
  saveDrift(drift: LinkDriftState): Promise<void>;
  removeDrift(linkId: string): Promise<LinkDriftState | undefined>;
}

type Element = ResourceState | LinkState;

function applyStatus(element: Element, info: ElementStatusInfo, now: number): void {
  element.status = info.status;
  element.lastStatusUpdateTimestamp = info.lastStatusUpdateTimestamp ?? now;
  if (info.preciseStatus !== undefined) element.preciseStatus = info.preciseStatus;
  if (info.lastDeployedTimestamp !== undefined) element.lastDeployedTimestamp = info.lastDeployedTimestamp;
  if (info.lastDeployAttemptTimestamp !== undefined)
    element.lastDeployAttemptTimestamp = info.lastDeployAttemptTimestamp;
  if (info.failureReasons !== undefined) element.failureReasons = info.failureReasons;
  if (info.durations !== undefined) element.durations = info.durations;
}

function markDrift(element: Element, drifted: boolean, timestamp: number): void {
  element.drifted = drifted;
  if (drifted) element.lastDriftDetectedTimestamp = timestamp;
}

export function resourcesContainer(core: DeploymentCore): ResourcesContainer {
  /** Changes a loaded resource in its instance with compare-and-swap. */
  const mutate = <R>(
    resourceId: string,
    change: (r: ResourceState, instance: StoredInstance) => R,
  ): Promise<R> =>
    core.mutateInstance(core.resourceOwner(resourceId), (instance) => {
      const resource = ownValue(instance.resources, resourceId);
      if (resource === undefined) throw elementNotFound("resource", resourceId);
      return change(resource, instance);
    });

  return {
    async get(resourceId) {
      const owner = core.resourceOwners.get(checkName("resource id", resourceId));
      if (owner === undefined) return undefined;
      const instance = await core.instances.get(owner);
      return instance === undefined ? undefined : ownValue(instance.resources, resourceId);
    },

    async getByName(instanceId, resourceName) {
      const instance = await core.requireInstance(instanceId);
      const id = ownValue(instance.resourceIds, checkName("resource name", resourceName));
      return id === undefined ? undefined : ownValue(instance.resources, id);
    },

    async save(resource) {
      checkName("resource id", resource.resourceId);
      checkName("resource name", resource.name);
      await core.mutateInstance(resource.instanceId, (instance) => {
        const previous = ownValue(instance.resources, resource.resourceId);
        if (previous !== undefined && previous.name !== resource.name)
          delete instance.resourceIds[previous.name];
        setOwn(instance.resources, resource.resourceId, structuredClone(resource));
        setOwn(instance.resourceIds, resource.name, resource.resourceId);
      });
    },

    async updateStatus(resourceId, info) {
      await mutate(resourceId, (r) => applyStatus(r, info, core.nowSeconds()));
    },

    async remove(resourceId) {
      const removed = await mutate(resourceId, (r, instance) => {
        delete instance.resources[resourceId];
        if (ownValue(instance.resourceIds, r.name) === resourceId) delete instance.resourceIds[r.name];
        return r;
      });
      await core.resourceDrift.remove(resourceId);
      return removed;
    },

    getDrift: (resourceId) => core.resourceDrift.get(checkName("resource id", resourceId)),

    async saveDrift(drift) {
      core.resourceDrift.checkId(checkName("resource id", drift.resourceId));
      const timestamp = drift.timestamp ?? core.nowSeconds();
      await mutate(drift.resourceId, (r) => markDrift(r, true, timestamp));
      await core.resourceDrift.put({ ...drift, timestamp });
    },

    async removeDrift(resourceId) {
      const removed = await core.resourceDrift.remove(checkName("resource id", resourceId));
      if (core.resourceOwners.has(resourceId)) await mutate(resourceId, (r) => markDrift(r, false, 0));
      return removed;
    },
  };
}

export function linksContainer(core: DeploymentCore): LinksContainer {
  const mutate = <R>(linkId: string, change: (l: LinkState, instance: StoredInstance) => R): Promise<R> =>
    core.mutateInstance(core.linkOwner(linkId), (instance) => {
      const link = ownValue(instance.links, linkId);
      if (link === undefined) throw elementNotFound("link", linkId);
      return change(link, instance);
    });

  return {
    async get(linkId) {
      const owner = core.linkOwners.get(checkName("link id", linkId));
      if (owner === undefined) return undefined;
      const instance = await core.instances.get(owner);
      return instance === undefined ? undefined : ownValue(instance.links, linkId);
    },

    async getByName(instanceId, linkName) {
      checkName("link name", linkName);
      const instance = await core.requireInstance(instanceId);
      return Object.values(instance.links).find((l) => l.name === linkName);
    },

    async listWithResourceDataMappings(instanceId, resourceName) {
      const prefix = `${checkName("resource name", resourceName)}::`;
      const instance = await core.requireInstance(instanceId);
      return Object.values(instance.links).filter((l) =>
        Object.keys(l.resourceDataMappings ?? {}).some((k) => k.startsWith(prefix)),
      );
    },

    async save(link) {
      checkName("link id", link.linkId);
      checkName("link name", link.name);
      await core.mutateInstance(link.instanceId, (instance) => {
        const clash = Object.values(instance.links).find(
          (l) => l.name === link.name && l.linkId !== link.linkId,
        );
        if (clash !== undefined)
          throw new StateKeeperError(
            "E_ALREADY_EXISTS",
            `link name ${link.name} is already used by ${clash.linkId}`,
            {
              details: { instanceId: link.instanceId, linkName: link.name, linkId: clash.linkId },
            },
          );
        setOwn(instance.links, link.linkId, structuredClone(link));
      });
    },

    async updateStatus(linkId, info) {
      await mutate(linkId, (l) => applyStatus(l, info, core.nowSeconds()));
    },

    async remove(linkId) {
      const removed = await mutate(linkId, (l, instance) => {
        delete instance.links[linkId];
        return l;
      });
      await core.linkDrift.remove(linkId);
      return removed;
    },

    getDrift: (linkId) => core.linkDrift.get(checkName("link id", linkId)),

    async saveDrift(drift) {
      core.linkDrift.checkId(checkName("link id", drift.linkId));
      const timestamp = drift.timestamp ?? core.nowSeconds();
      await mutate(drift.linkId, (l) => markDrift(l, true, timestamp));
      await core.linkDrift.put({ ...drift, timestamp });
    },

    async removeDrift(linkId) {
      const removed = await core.linkDrift.remove(checkName("link id", linkId));
      if (core.linkOwners.has(linkId)) await mutate(linkId, (l) => markDrift(l, false, 0));
      return removed;
    },
  };
}
