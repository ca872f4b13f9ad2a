// The package entry `statekeeper/deployments`: the deployment state container after Bluelink's
// object-store state container, with compare-and-swap claims (docs/deployments.md).
export type { LayoutName } from "./collection.js";
export { type CopyDeploymentsResult, copyDeploymentStore } from "./copy.js";
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
  Event as DeploymentEvent, // not `Event`: that would shadow the global Event type where imported
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
// Numeric, as Bluelink stores them (statekeeper/records has its own string ResourceStatus).
export { InstanceStatus, LinkStatus, ResourceStatus } from "./types.js";
