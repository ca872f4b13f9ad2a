import type { Encrypter } from "../crypto/types.js";
import { StateKeeperError } from "../errors.js";
import { folderPrefix } from "../objectstore/kit.js";
import { assertStoreSupported } from "../objectstore/probe.js";
import { openStore } from "../objectstore/schemes.js";
import type { ObjectStore } from "../objectstore/types.js";
import { claimForDeployment, initialiseAndClaim } from "./claims.js";
import { Collection, type LayoutName } from "./collection.js";
import { DeploymentCore } from "./core.js";
import {
  type LinksContainer,
  linksContainer,
  type ResourcesContainer,
  resourcesContainer,
} from "./elements.js";
import { type EventsContainer, type EventsInternals, eventsContainer } from "./events.js";
import { type InstanceInput, type InstancesContainer, instancesContainer } from "./instances.js";
import type { LayoutContext } from "./layout.js";
import {
  type ChangesetsContainer,
  type CleanupOperationsContainer,
  cleanupOperationsContainer,
  managedRecords,
  type ReconciliationResultsContainer,
  reconciliationResultsContainer,
  type ValidationsContainer,
} from "./manage.js";
import {
  type ChildrenContainer,
  childrenContainer,
  type ExportsContainer,
  exportsContainer,
  type MetadataContainer,
  metadataContainer,
} from "./parts.js";
import type {
  BlueprintValidation,
  Changeset,
  CleanupOperation,
  InstanceStatus,
  ReconciliationResult,
} from "./types.js";

export interface DeploymentStoreOptions {
  /** Key prefix inside the store, e.g. `"bluelink-state"`. */
  prefix?: string;
  /** `lazy` (default) loads records on first use; `eager` loads every record at open. */
  mode?: "lazy" | "eager";
  /**
   * `per-entity` (default): one object per record; `chunked`: JSON-array chunks plus an index;
   * `bluelink`: one object per record with Bluelink's own key names, id encoding and JSON field
   * names, so a bucket Bluelink's object-store container wrote opens as it is, and Bluelink
   * reads what this store writes there (docs/deployments.md, docs/migrating.md).
   */
  layout?: LayoutName;
  /** Guide size of a chunk in the chunked layout; default 1 MiB. */
  maxChunkBytes?: number;
  /** Cap on one channel's event partition; default 10 MiB. */
  maxEventPartitionBytes?: number;
  /** What "recent" means for `events.stream` without a starting id; default 300 s. */
  recentEventsSeconds?: number;
  /** Seals every object, with its key as the authenticated location. */
  encrypter?: Encrypter;
  /** Time source for status timestamps, event ids and "recent"; default the system clock. */
  clock?: () => Date;
}

export interface DeploymentStore {
  readonly mode: "lazy" | "eager";
  readonly layout: LayoutName;
  readonly instances: InstancesContainer;
  readonly resources: ResourcesContainer;
  readonly links: LinksContainer;
  readonly children: ChildrenContainer;
  readonly metadata: MetadataContainer;
  readonly exports: ExportsContainer;
  readonly changesets: ChangesetsContainer;
  readonly validations: ValidationsContainer;
  readonly reconciliationResults: ReconciliationResultsContainer;
  readonly cleanupOperations: CleanupOperationsContainer;
  readonly events: EventsContainer;
  /**
   * Bumps the instance's version from `expectedVersion` and sets `newStatus`, atomically.
   * `E_VERSION_CONFLICT` (`details.storedVersion`) when the stored version differs, `E_NOT_FOUND`.
   */
  claimForDeployment(instanceId: string, expectedVersion: number, newStatus: InstanceStatus): Promise<number>;
  /** Creates the instance at version 1 (create-only) with its name record; `E_ALREADY_EXISTS` otherwise. */
  initialiseAndClaim(instance: InstanceInput, status: InstanceStatus): Promise<number>;
}

const MiB = 1024 * 1024;

/** The record collections behind an open store, for copying between layouts (src/deployments/copy.ts). */
export interface DeploymentInternals {
  core: DeploymentCore;
  changesets: Collection<Changeset>;
  validations: Collection<BlueprintValidation>;
  reconciliationResults: Collection<ReconciliationResult>;
  cleanupOperations: Collection<CleanupOperation>;
  events: EventsInternals;
}

const internals = new WeakMap<DeploymentStore, DeploymentInternals>();

/** The internals of a store `openDeploymentStore` returned. */
export function internalsOf(ds: DeploymentStore): DeploymentInternals {
  const found = internals.get(ds);
  if (found === undefined)
    throw new StateKeeperError("E_INVALID_ARGUMENT", "not a store opened with openDeploymentStore");
  return found;
}

/**
 * Opens the deployment container over a store (or a store URL). Refuses, before any write, a
 * store whose probe shows it ignores create-only or compare-and-swap conditions.
 */
export async function openDeploymentStore(
  urlOrStore: string | ObjectStore,
  options: DeploymentStoreOptions = {},
): Promise<DeploymentStore> {
  const mode = oneOf("mode", options.mode ?? "lazy", ["lazy", "eager"] as const);
  const layout = oneOf("layout", options.layout ?? "per-entity", [
    "per-entity",
    "chunked",
    "bluelink",
  ] as const);
  const maxChunkBytes = positiveInteger("maxChunkBytes", options.maxChunkBytes ?? MiB);
  const maxEventPartitionBytes = positiveInteger(
    "maxEventPartitionBytes",
    options.maxEventPartitionBytes ?? 10 * MiB,
  );
  const recentEventsSeconds = positiveInteger("recentEventsSeconds", options.recentEventsSeconds ?? 300);
  const prefix = normalisePrefix(options.prefix);
  if (options.clock !== undefined && typeof options.clock !== "function")
    throw invalidOption("clock", "must be a function");
  const clock = options.clock ?? (() => new Date());
  // Bluelink reads plain JSON: a sealed object in its bucket would be unreadable to it.
  if (layout === "bluelink" && options.encrypter !== undefined)
    throw invalidOption(
      "encrypter",
      "cannot be used with layout bluelink (Bluelink reads plain JSON objects)",
    );

  const store = typeof urlOrStore === "string" ? await openStore(urlOrStore) : urlOrStore;
  // Claims are only safe where create-only and compare-and-swap writes are honoured.
  await assertStoreSupported(store);

  const ctx: LayoutContext = {
    store,
    prefix,
    encrypter: options.encrypter,
    maxChunkBytes,
    naming: layout === "bluelink" ? "bluelink" : "statekeeper",
  };
  const core = new DeploymentCore(ctx, layout, clock);
  const changesets = new Collection<Changeset>(ctx, layout, "changesets", (r) => r.id);
  const validations = new Collection<BlueprintValidation>(ctx, layout, "validations", (r) => r.id);
  const reconciliationResults = new Collection<ReconciliationResult>(
    ctx,
    layout,
    "reconciliation_results",
    (r) => r.id,
  );
  const cleanupOperations = new Collection<CleanupOperation>(ctx, layout, "cleanup_operations", (r) => r.id);

  if (mode === "eager")
    for (const collection of [
      core.instances,
      core.resourceDrift,
      core.linkDrift,
      changesets,
      validations,
      reconciliationResults,
      cleanupOperations,
    ])
      await collection.all();

  const events = eventsContainer(ctx, { maxEventPartitionBytes, recentEventsSeconds, clock });
  const ds: DeploymentStore = {
    mode,
    layout,
    instances: instancesContainer(core),
    resources: resourcesContainer(core),
    links: linksContainer(core),
    children: childrenContainer(core),
    metadata: metadataContainer(core),
    exports: exportsContainer(core),
    changesets: managedRecords(changesets, (r) => r.created),
    validations: managedRecords(validations, (r) => r.created),
    reconciliationResults: reconciliationResultsContainer(reconciliationResults),
    cleanupOperations: cleanupOperationsContainer(cleanupOperations),
    events,
    claimForDeployment: (id, expected, status) => claimForDeployment(core, id, expected, status),
    initialiseAndClaim: (instance, status) => initialiseAndClaim(core, instance, status),
  };
  internals.set(ds, { core, changesets, validations, reconciliationResults, cleanupOperations, events });
  return ds;
}

function normalisePrefix(prefix: string | undefined): string {
  if (prefix === undefined || prefix === "") return "";
  if (typeof prefix !== "string") throw invalidOption("prefix", "must be a string");
  return folderPrefix(prefix);
}

function oneOf<T extends string>(option: string, value: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) throw invalidOption(option, `must be one of ${allowed.join(", ")}`);
  return value as T;
}

function positiveInteger(option: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value <= 0)
    throw invalidOption(option, "must be a positive integer");
  return value;
}

function invalidOption(option: string, reason: string): StateKeeperError {
  return new StateKeeperError("E_INVALID_CONFIG", `openDeploymentStore: option ${option} ${reason}`, {
    details: { option },
  });
}
