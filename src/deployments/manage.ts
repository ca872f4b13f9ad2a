import { checkName } from "./codec.js";
import type { Collection } from "./collection.js";
import type { BlueprintValidation, Changeset, CleanupOperation, ReconciliationResult } from "./types.js";

/** Records of Bluelink's `manage` package: get/save/remove plus age-based cleanup. */
export interface ManagedRecords<T> {
  get(id: string): Promise<T | undefined>;
  /** Creates or replaces the record. */
  save(record: T): Promise<void>;
  /** Removes it and returns it (`undefined` when there was none). */
  remove(id: string): Promise<T | undefined>;
  /** Removes every record older than `threshold`; returns how many were removed. */
  cleanup(threshold: Date): Promise<number>;
}

export type ChangesetsContainer = ManagedRecords<Changeset>;
export type ValidationsContainer = ManagedRecords<BlueprintValidation>;

export interface ReconciliationResultsContainer extends ManagedRecords<ReconciliationResult> {
  getLatestByChangesetId(changesetId: string): Promise<ReconciliationResult | undefined>;
  getAllByChangesetId(changesetId: string): Promise<ReconciliationResult[]>;
  getLatestByInstanceId(instanceId: string): Promise<ReconciliationResult | undefined>;
  getAllByInstanceId(instanceId: string): Promise<ReconciliationResult[]>;
}

export interface CleanupOperationsContainer extends ManagedRecords<CleanupOperation> {
  /** The most recently started operation of `cleanupType`. */
  getLatestByType(cleanupType: string): Promise<CleanupOperation | undefined>;
}

export function managedRecords<T extends { id: string }>(
  records: Collection<T>,
  createdAt: (record: T) => number,
): ManagedRecords<T> {
  return {
    get: (id) => records.get(checkName("record id", id)),
    async save(record) {
      checkName("record id", record.id);
      await records.put(record);
    },
    remove: (id) => records.remove(checkName("record id", id)),
    async cleanup(threshold) {
      const cutoff = threshold.getTime() / 1000;
      let removed = 0;
      for (const record of await records.all()) {
        if (createdAt(record) >= cutoff) continue;
        const { before } = await records.update(record.id, (current) =>
          current !== undefined && createdAt(current) < cutoff ? { remove: true } : { keep: true },
        );
        if (before !== undefined && createdAt(before) < cutoff) removed++;
      }
      return removed;
    },
  };
}

/** Newest first by `created`, ties broken by id so the order is stable. */
function newestFirst<T extends { id: string }>(created: (r: T) => number) {
  return (a: T, b: T) => created(b) - created(a) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

export function reconciliationResultsContainer(
  records: Collection<ReconciliationResult>,
): ReconciliationResultsContainer {
  const byNewest = newestFirst<ReconciliationResult>((r) => r.created);
  const where = async (match: (r: ReconciliationResult) => boolean) =>
    (await records.all()).filter(match).sort(byNewest);
  return {
    ...managedRecords(records, (r) => r.created),
    getAllByChangesetId: (changesetId) => where((r) => r.changesetId === changesetId),
    getAllByInstanceId: (instanceId) => where((r) => r.instanceId === instanceId),
    getLatestByChangesetId: async (changesetId) => (await where((r) => r.changesetId === changesetId))[0],
    getLatestByInstanceId: async (instanceId) => (await where((r) => r.instanceId === instanceId))[0],
  };
}

export function cleanupOperationsContainer(
  records: Collection<CleanupOperation>,
): CleanupOperationsContainer {
  const byNewest = newestFirst<CleanupOperation>((r) => r.startedAt);
  return {
    ...managedRecords(records, (r) => r.startedAt),
    async getLatestByType(cleanupType) {
      return (await records.all()).filter((r) => r.cleanupType === cleanupType).sort(byNewest)[0];
    },
  };
}
