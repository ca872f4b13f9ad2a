export type { LayoutName } from "./collection.js";
export type { LinksContainer, ResourcesContainer } from "./elements.js";
export type { EventsContainer, StreamEventsParams } from "./events.js";
export { timeOrderedIdGenerator } from "./ids.js";
export type { InstanceInput, InstancesContainer } from "./instances.js";
export type {
  ChangesetsContainer,
  CleanupOperationsContainer,
  ManagedRecords,
  ReconciliationResultsContainer,
  ValidationsContainer,
} from "./manage.js";
export { type DeploymentStore, type DeploymentStoreOptions, openDeploymentStore } from "./open.js";
export type { ChildrenContainer, ExportsContainer, MetadataContainer } from "./parts.js";
export type {
  BlueprintValidation,
  Changeset,
  ChildDependencies,
  CleanupOperation,
  Durations,
  ElementStatusInfo,
  Event as DeploymentEvent,
  ExportState,
  InstanceState,
  InstanceStatusInfo,
  InstanceSummary,
  LinkDriftState,
  LinkState,
  ListInstancesParams,
  ListInstancesResult,
  NewEvent,
  ReconciliationResult,
  ResourceDriftState,
  ResourceState,
} from "./types.js";
// The records layer has its own (string) ResourceStatus; these are the deployment model's numeric ones.
export { InstanceStatus, LinkStatus, ResourceStatus as DeploymentResourceStatus } from "./types.js";
