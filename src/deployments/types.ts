/**
 * The deployment state model, after Bluelink's `state` and `manage` packages.
 * Timestamps are Unix seconds, as in Bluelink. Maps are plain objects keyed by id or name.
 */

/** Where an instance is in its lifecycle. Numeric, as in Bluelink, so stored records stay compatible. */
export const InstanceStatus = {
  Preparing: 0,
  Deploying: 1,
  Deployed: 2,
  DeployFailed: 3,
  DeployRollingBack: 4,
  DeployRollbackFailed: 5,
  DeployRollbackComplete: 6,
  Destroying: 7,
  Destroyed: 8,
  DestroyFailed: 9,
  DestroyRollingBack: 10,
  DestroyRollbackFailed: 11,
  DestroyRollbackComplete: 12,
  Updating: 13,
  Updated: 14,
  UpdateFailed: 15,
  UpdateRollingBack: 16,
  UpdateRollbackFailed: 17,
  UpdateRollbackComplete: 18,
  NotDeployed: 19,
} as const;
export type InstanceStatus = (typeof InstanceStatus)[keyof typeof InstanceStatus];

/** Status of one resource (also used for links). Numeric, as in Bluelink. */
export const ResourceStatus = {
  Unknown: 0,
  Creating: 1,
  Created: 2,
  CreateFailed: 3,
  RollingBack: 4,
  RollbackFailed: 5,
  RollbackComplete: 6,
  Destroying: 7,
  Destroyed: 8,
  DestroyFailed: 9,
  Updating: 10,
  Updated: 11,
  UpdateFailed: 12,
} as const;
export type ResourceStatus = (typeof ResourceStatus)[keyof typeof ResourceStatus];

export type LinkStatus = ResourceStatus;
export const LinkStatus = ResourceStatus;

/** How long each phase of a deployment took, in milliseconds. */
export interface Durations {
  prepareDuration?: number;
  totalDuration?: number;
  [phase: string]: number | undefined;
}

export interface ResourceState {
  resourceId: string;
  name: string;
  type: string;
  instanceId: string;
  status: ResourceStatus;
  /** Finer-grained status reported by the provider (Bluelink: `PreciseStatus`). */
  preciseStatus?: number;
  templateName?: string;
  lastStatusUpdateTimestamp?: number;
  lastDeployedTimestamp?: number;
  lastDeployAttemptTimestamp?: number;
  specData?: unknown;
  description?: string;
  metadata?: Record<string, unknown>;
  dependsOnResources?: string[];
  dependsOnChildren?: string[];
  failureReasons?: string[];
  drifted?: boolean;
  lastDriftDetectedTimestamp?: number;
  durations?: Durations;
}

export interface LinkState {
  linkId: string;
  name: string;
  instanceId: string;
  status: LinkStatus;
  preciseStatus?: number;
  lastStatusUpdateTimestamp?: number;
  lastDeployedTimestamp?: number;
  lastDeployAttemptTimestamp?: number;
  /** Data the link's resources hold for it, keyed by resource name. */
  data?: Record<string, unknown>;
  /**
   * Where the link's data is mirrored into resource specs: `"<resourceName>::<field path>"` →
   * path in the link data (see `links.listWithResourceDataMappings`).
   */
  resourceDataMappings?: Record<string, string>;
  failureReasons?: string[];
  drifted?: boolean;
  lastDriftDetectedTimestamp?: number;
  durations?: Durations;
}

export interface ExportState {
  value: unknown;
  type: string;
  /** The field of the blueprint the export reads, e.g. `resources.orders.spec.arn`. */
  field: string;
  description?: string;
}

/** What a child blueprint depends on within its parent. */
export interface ChildDependencies {
  dependsOnResources: string[];
  dependsOnChildren: string[];
}

export interface InstanceState {
  instanceId: string;
  instanceName: string;
  status: InstanceStatus;
  lastStatusUpdateTimestamp?: number;
  lastDeployedTimestamp?: number;
  lastDeployAttemptTimestamp?: number;
  /** Resource name → resource id. */
  resourceIds: Record<string, string>;
  /** Resource id → state. Stored inline in the instance record. */
  resources: Record<string, ResourceState>;
  /** Link id → state. Stored inline in the instance record. */
  links: Record<string, LinkState>;
  metadata: Record<string, unknown>;
  exports: Record<string, ExportState>;
  /**
   * Child name → child instance. Stored as the child's id (each child is an instance record of
   * its own); `instances.get` returns the children loaded, a save accepts either form.
   */
  childBlueprints: Record<string, InstanceState | string>;
  childDependencies: Record<string, ChildDependencies>;
  durations?: Durations;
  /** Bumped only by claims (`claimForDeployment`, `initialiseAndClaim`); saves preserve it. */
  version: number;
}

/** Status fields `instances.updateStatus` may change. */
export interface InstanceStatusInfo {
  status: InstanceStatus;
  lastStatusUpdateTimestamp?: number;
  lastDeployedTimestamp?: number;
  lastDeployAttemptTimestamp?: number;
  durations?: Durations;
}

/** Status fields `resources.updateStatus` / `links.updateStatus` may change. */
export interface ElementStatusInfo {
  status: ResourceStatus;
  preciseStatus?: number;
  lastStatusUpdateTimestamp?: number;
  lastDeployedTimestamp?: number;
  lastDeployAttemptTimestamp?: number;
  failureReasons?: string[];
  durations?: Durations;
}

export interface ResourceDriftState {
  resourceId: string;
  resourceName: string;
  specData: unknown;
  difference: unknown;
  timestamp?: number;
}

export interface LinkDriftState {
  linkId: string;
  linkName: string;
  resourceADrift?: unknown;
  resourceBDrift?: unknown;
  timestamp?: number;
}

/** A row of `instances.list`. */
export interface InstanceSummary {
  instanceId: string;
  instanceName: string;
  status: InstanceStatus;
  lastDeployedTimestamp?: number;
}

export interface ListInstancesParams {
  /** Case-insensitive substring of the instance name. */
  search?: string;
  offset?: number;
  limit?: number;
}

export interface ListInstancesResult {
  instances: InstanceSummary[];
  /** Matches before offset/limit were applied. */
  totalCount: number;
}

export interface Changeset {
  id: string;
  instanceId: string;
  destroy: boolean;
  status: string;
  blueprintLocation: string;
  changes?: unknown;
  /** Unix seconds; `cleanup(threshold)` removes changesets created before the threshold. */
  created: number;
}

export interface BlueprintValidation {
  id: string;
  status: string;
  blueprintLocation: string;
  diagnostics?: unknown[];
  created: number;
}

export interface ReconciliationResult {
  id: string;
  changesetId: string;
  instanceId: string;
  result?: unknown;
  created: number;
}

export interface CleanupOperation {
  id: string;
  /** What was cleaned: `"events"`, `"changesets"`, `"validations"`, `"reconciliation_results"`… */
  cleanupType: string;
  status: string;
  startedAt: number;
  endedAt?: number;
  /** Unix seconds: everything older than this was removed. */
  thresholdDate: number;
  itemsDeleted?: number;
}

/** One event of a channel (a deployment, a validation, a changeset…). */
export interface Event {
  /** Time-ordered: later events of one process sort after earlier ones. */
  id: string;
  type: string;
  channelType: string;
  channelId: string;
  data: string;
  /** Unix seconds. */
  timestamp: number;
  /** Marks the last event of a stream: `events.stream` stops after yielding it. */
  end: boolean;
}

/** An event as given to `events.save`: the id and timestamp are filled in when absent. */
export type NewEvent = Omit<Event, "id" | "timestamp" | "end"> & {
  id?: string;
  timestamp?: number;
  end?: boolean;
};
