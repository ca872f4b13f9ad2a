import { StateKeeperError } from "../errors.js";
import { checkName } from "./codec.js";
import { Collection, type LayoutName } from "./collection.js";
import type { LayoutContext } from "./layout.js";
import { NameRecords } from "./names.js";
import type { InstanceState, LinkDriftState, ResourceDriftState } from "./types.js";

/** An instance as stored: children by id only (each child is an instance record of its own). */
export type StoredInstance = Omit<InstanceState, "childBlueprints"> & {
  childBlueprints: Record<string, string>;
};

/** State shared by the sub-containers of one deployment store. */
export class DeploymentCore {
  readonly instances: Collection<StoredInstance>;
  readonly resourceDrift: Collection<ResourceDriftState>;
  readonly linkDrift: Collection<LinkDriftState>;
  readonly names: NameRecords;
  /** resource id → instance id, for every instance this process has loaded. */
  readonly resourceOwners = new Map<string, string>();
  /** link id → instance id, for every instance this process has loaded. */
  readonly linkOwners = new Map<string, string>();
  private readonly ownedBy = new Map<string, { resources: string[]; links: string[] }>();

  constructor(
    readonly ctx: LayoutContext,
    readonly layout: LayoutName,
    private readonly clock: () => Date,
  ) {
    this.instances = new Collection<StoredInstance>(
      ctx,
      layout,
      "instances",
      (i) => i.instanceId,
      (id, record) => this.trackOwnership(id, record),
    );
    this.resourceDrift = new Collection(ctx, layout, "resource_drift", (d) => d.resourceId);
    this.linkDrift = new Collection(ctx, layout, "link_drift", (d) => d.linkId);
    this.names = new NameRecords(ctx);
  }

  /** Unix seconds by the configured clock. */
  nowSeconds(): number {
    return Math.floor(this.clock().getTime() / 1000);
  }

  now(): Date {
    return this.clock();
  }

  /**
   * Changes a stored instance with compare-and-swap, keeping its version: only claims bump it.
   * `E_NOT_FOUND` when the instance does not exist.
   */
  async mutateInstance<R>(instanceId: string, change: (instance: StoredInstance) => R): Promise<R> {
    checkName("instance id", instanceId);
    let result: R | undefined;
    await this.instances.update(instanceId, (current) => {
      if (current === undefined) throw instanceNotFound(instanceId);
      const version = current.version;
      result = change(current);
      current.version = version;
      return { put: current };
    });
    return result as R;
  }

  /**
   * Whether `instanceId` still counts as the holder of its name record for `name`: it exists and,
   * under the bluelink layout, still has that name (Bluelink leaves a renamed instance's old
   * record behind, `Persister.UpdateInstance` in statestore/persister.go).
   */
  async holdsName(instanceId: string, name: string): Promise<boolean> {
    const holder = await this.instances.reload(instanceId);
    return holder !== undefined && (this.layout !== "bluelink" || holder.instanceName === name);
  }

  /** The stored instance (through the cache), or `E_NOT_FOUND`. */
  async requireInstance(instanceId: string): Promise<StoredInstance> {
    const instance = await this.instances.get(checkName("instance id", instanceId));
    if (instance === undefined) throw instanceNotFound(instanceId);
    return instance;
  }

  /** The instance with its children loaded recursively (a child seen twice stays an id). */
  async expand(instance: StoredInstance, seen = new Set<string>()): Promise<InstanceState> {
    seen.add(instance.instanceId);
    const childBlueprints: Record<string, InstanceState | string> = {};
    for (const [name, childId] of Object.entries(instance.childBlueprints)) {
      const child = seen.has(childId) ? undefined : await this.instances.get(childId);
      Object.defineProperty(childBlueprints, name, {
        value: child === undefined ? childId : await this.expand(child, seen),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return { ...instance, childBlueprints };
  }

  /** The instance that holds `resourceId`, among loaded instances; `E_NOT_FOUND` otherwise. */
  resourceOwner(resourceId: string): string {
    const owner = this.resourceOwners.get(checkName("resource id", resourceId));
    if (owner === undefined) throw elementNotFound("resource", resourceId);
    return owner;
  }

  linkOwner(linkId: string): string {
    const owner = this.linkOwners.get(checkName("link id", linkId));
    if (owner === undefined) throw elementNotFound("link", linkId);
    return owner;
  }

  private trackOwnership(instanceId: string, record: StoredInstance | undefined): void {
    const previous = this.ownedBy.get(instanceId);
    for (const id of previous?.resources ?? [])
      if (this.resourceOwners.get(id) === instanceId) this.resourceOwners.delete(id);
    for (const id of previous?.links ?? [])
      if (this.linkOwners.get(id) === instanceId) this.linkOwners.delete(id);
    if (record === undefined) {
      this.ownedBy.delete(instanceId);
      return;
    }
    const owned = { resources: Object.keys(record.resources), links: Object.keys(record.links) };
    for (const id of owned.resources) this.resourceOwners.set(id, instanceId);
    for (const id of owned.links) this.linkOwners.set(id, instanceId);
    this.ownedBy.set(instanceId, owned);
  }
}

export function instanceNotFound(instanceId: string): StateKeeperError {
  return new StateKeeperError("E_NOT_FOUND", `instance ${instanceId} not found`, { details: { instanceId } });
}

export function elementNotFound(kind: string, id: string): StateKeeperError {
  return new StateKeeperError("E_NOT_FOUND", `${kind} ${id} not found (load its instance first)`, {
    details: { [`${kind}Id`]: id },
  });
}
