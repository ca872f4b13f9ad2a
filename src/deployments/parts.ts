import { StateKeeperError } from "../errors.js";
import { checkName, ownValue, setOwn } from "./codec.js";
import { type DeploymentCore, instanceNotFound } from "./core.js";
import type { ChildDependencies, ExportState, InstanceState } from "./types.js";

export interface ChildrenContainer {
  /** The child instance attached as `childName` (its own children loaded), or `undefined`. */
  get(instanceId: string, childName: string): Promise<InstanceState | undefined>;
  /** Records `childInstanceId` as child `childName` of the parent; both must exist. */
  attach(parentInstanceId: string, childInstanceId: string, childName: string): Promise<void>;
  saveDependencies(instanceId: string, childName: string, dependencies: ChildDependencies): Promise<void>;
  /** Removes the child reference and its dependencies (the child instance itself stays). */
  detach(instanceId: string, childName: string): Promise<void>;
}

export interface MetadataContainer {
  get(instanceId: string): Promise<Record<string, unknown>>;
  save(instanceId: string, metadata: Record<string, unknown>): Promise<void>;
  /** Clears the metadata and returns what it was. */
  remove(instanceId: string): Promise<Record<string, unknown>>;
}

export interface ExportsContainer {
  getAll(instanceId: string): Promise<Record<string, ExportState>>;
  get(instanceId: string, exportName: string): Promise<ExportState | undefined>;
  saveAll(instanceId: string, exports: Record<string, ExportState>): Promise<void>;
  save(instanceId: string, exportName: string, value: ExportState): Promise<void>;
  /** Clears every export and returns them. */
  removeAll(instanceId: string): Promise<Record<string, ExportState>>;
  /** Removes one export and returns it (`undefined` when there was none). */
  remove(instanceId: string, exportName: string): Promise<ExportState | undefined>;
}

export function childrenContainer(core: DeploymentCore): ChildrenContainer {
  return {
    async get(instanceId, childName) {
      const parent = await core.requireInstance(instanceId);
      const childId = ownValue(parent.childBlueprints, checkName("child name", childName));
      if (childId === undefined) return undefined;
      const child = await core.instances.get(childId);
      return child === undefined ? undefined : core.expand(child, new Set([instanceId]));
    },

    async attach(parentInstanceId, childInstanceId, childName) {
      checkName("child name", childName);
      if ((await core.instances.get(checkName("child instance id", childInstanceId))) === undefined)
        throw instanceNotFound(childInstanceId);
      if (childInstanceId === parentInstanceId)
        throw new StateKeeperError(
          "E_INVALID_ARGUMENT",
          `instance ${parentInstanceId} cannot be its own child`,
          {
            details: { instanceId: parentInstanceId },
          },
        );
      await core.mutateInstance(parentInstanceId, (parent) => {
        setOwn(parent.childBlueprints, childName, childInstanceId);
      });
    },

    async saveDependencies(instanceId, childName, dependencies) {
      checkName("child name", childName);
      await core.mutateInstance(instanceId, (parent) => {
        setOwn(parent.childDependencies, childName, structuredClone(dependencies));
      });
    },

    async detach(instanceId, childName) {
      checkName("child name", childName);
      await core.mutateInstance(instanceId, (parent) => {
        if (ownValue(parent.childBlueprints, childName) === undefined)
          throw new StateKeeperError("E_NOT_FOUND", `instance ${instanceId} has no child ${childName}`, {
            details: { instanceId, childName },
          });
        delete parent.childBlueprints[childName];
        delete parent.childDependencies[childName];
      });
    },
  };
}

export function metadataContainer(core: DeploymentCore): MetadataContainer {
  return {
    async get(instanceId) {
      return (await core.requireInstance(instanceId)).metadata;
    },
    async save(instanceId, metadata) {
      await core.mutateInstance(instanceId, (instance) => {
        instance.metadata = structuredClone(metadata);
      });
    },
    async remove(instanceId) {
      return core.mutateInstance(instanceId, (instance) => {
        const removed = instance.metadata;
        instance.metadata = {};
        return removed;
      });
    },
  };
}

export function exportsContainer(core: DeploymentCore): ExportsContainer {
  return {
    async getAll(instanceId) {
      return (await core.requireInstance(instanceId)).exports;
    },
    async get(instanceId, exportName) {
      return ownValue((await core.requireInstance(instanceId)).exports, checkName("export name", exportName));
    },
    async saveAll(instanceId, exports) {
      await core.mutateInstance(instanceId, (instance) => {
        instance.exports = structuredClone(exports);
      });
    },
    async save(instanceId, exportName, value) {
      checkName("export name", exportName);
      await core.mutateInstance(instanceId, (instance) => {
        setOwn(instance.exports, exportName, structuredClone(value));
      });
    },
    async removeAll(instanceId) {
      return core.mutateInstance(instanceId, (instance) => {
        const removed = instance.exports;
        instance.exports = {};
        return removed;
      });
    },
    async remove(instanceId, exportName) {
      checkName("export name", exportName);
      return core.mutateInstance(instanceId, (instance) => {
        const removed = ownValue(instance.exports, exportName);
        delete instance.exports[exportName];
        return removed;
      });
    },
  };
}
