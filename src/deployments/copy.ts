import { isDeepStrictEqual } from "node:util";
import { StateKeeperError } from "../errors.js";
import type { Collection } from "./collection.js";
import type { StoredInstance } from "./core.js";
import { type DeploymentInternals, type DeploymentStore, internalsOf } from "./open.js";

/** What `copyDeploymentStore` copied, per kind. */
export interface CopyDeploymentsResult {
  instances: number;
  resourceDrift: number;
  linkDrift: number;
  changesets: number;
  validations: number;
  reconciliationResults: number;
  cleanupOperations: number;
  eventChannels: number;
  events: number;
}

type Kind = Exclude<keyof CopyDeploymentsResult, "instances" | "eventChannels" | "events">;

const KINDS: readonly Kind[] = [
  "resourceDrift",
  "linkDrift",
  "changesets",
  "validations",
  "reconciliationResults",
  "cleanupOperations",
];

function collectionOf(internals: DeploymentInternals, kind: Kind): Collection<{ [k: string]: unknown }> {
  const { core } = internals;
  const all = {
    resourceDrift: core.resourceDrift,
    linkDrift: core.linkDrift,
    changesets: internals.changesets,
    validations: internals.validations,
    reconciliationResults: internals.reconciliationResults,
    cleanupOperations: internals.cleanupOperations,
  };
  return all[kind] as unknown as Collection<{ [k: string]: unknown }>;
}

const idOf: Record<Kind, (r: { [k: string]: unknown }) => string> = {
  resourceDrift: (r) => r.resourceId as string,
  linkDrift: (r) => r.linkId as string,
  changesets: (r) => r.id as string,
  validations: (r) => r.id as string,
  reconciliationResults: (r) => r.id as string,
  cleanupOperations: (r) => r.id as string,
};

/**
 * Copies every record of one deployment store into another — typically a bucket Bluelink wrote
 * (`layout: "bluelink"`) into statekeeper's own layout, or back. Instances keep their version,
 * events their ids. Every id is checked against the target's layout before anything is written
 * (`E_INVALID_NAME` naming the first that cannot be stored there), then each record is written
 * with compare-and-swap, and finally read back from the target and compared with the source
 * (`E_CONFLICT` naming the record when they differ, e.g. because something wrote meanwhile).
 * The source is only read. Re-running it is safe: records are overwritten with the same content.
 */
export async function copyDeploymentStore(
  source: DeploymentStore,
  target: DeploymentStore,
): Promise<CopyDeploymentsResult> {
  const from = internalsOf(source);
  const to = internalsOf(target);

  // Read everything and check every id against the target's key scheme before any write.
  const instances = await from.core.instances.all();
  const holds = (id: string, name: string) => to.core.holdsName(id, name);
  for (const instance of instances) {
    to.core.instances.checkId(instance.instanceId);
    if (instance.instanceName !== "") to.core.names.check(instance.instanceName);
  }
  for (const { instanceId, instanceName } of instances) {
    const holder = (await to.core.names.read(instanceName))?.instanceId;
    if (holder !== undefined && holder !== instanceId && (await holds(holder, instanceName)))
      throw new StateKeeperError(
        "E_ALREADY_EXISTS",
        `instance name ${JSON.stringify(instanceName)} is already used by instance ${holder} in the target; nothing was copied`,
        { details: { instanceName, instanceId: holder } },
      );
  }
  const records = new Map<Kind, { [k: string]: unknown }[]>();
  for (const kind of KINDS) {
    const all = await collectionOf(from, kind).all();
    for (const record of all) collectionOf(to, kind).checkId(idOf[kind](record));
    records.set(kind, all);
  }
  const channels = [];
  for (const channel of await from.events.channels())
    channels.push({ ...channel, events: await source.events.list(channel.channelType, channel.channelId) });

  const result: CopyDeploymentsResult = {
    instances: 0,
    resourceDrift: 0,
    linkDrift: 0,
    changesets: 0,
    validations: 0,
    reconciliationResults: 0,
    cleanupOperations: 0,
    eventChannels: 0,
    events: 0,
  };
  for (const instance of instances) {
    await to.core.names.claim(instance.instanceName, instance.instanceId, holds);
    await to.core.instances.put(instance);
    result.instances++;
  }
  for (const kind of KINDS)
    for (const record of records.get(kind) ?? []) {
      await collectionOf(to, kind).put(record);
      result[kind]++;
    }
  for (const { channelType, channelId, events } of channels) {
    await to.events.importEvents(channelType, channelId, events);
    result.eventChannels++;
    result.events += events.length;
  }

  // Verify: every record as the target now stores it is the source's, as the target writes it.
  const verify = (kind: string, id: string, stored: unknown, expected: unknown) => {
    if (!isDeepStrictEqual(stored, expected))
      throw new StateKeeperError(
        "E_CONFLICT",
        `copy verification failed: ${kind} ${id} in the target differs from the source (was something writing meanwhile?)`,
        { details: { kind, id } },
      );
  };
  for (const instance of instances) {
    verify(
      "instance",
      instance.instanceId,
      await to.core.instances.reload(instance.instanceId),
      to.core.instances.normalise(instance as StoredInstance),
    );
    if (instance.instanceName !== "")
      verify(
        "name record",
        instance.instanceName,
        (await to.core.names.read(instance.instanceName))?.instanceId,
        instance.instanceId,
      );
  }
  for (const kind of KINDS)
    for (const record of records.get(kind) ?? []) {
      const id = idOf[kind](record);
      const collection = collectionOf(to, kind);
      verify(kind, id, await collection.reload(id), collection.normalise(record));
    }
  for (const { channelType, channelId, events } of channels) {
    const copied = (await target.events.list(channelType, channelId)).filter((e) =>
      events.some((s) => s.id === e.id),
    );
    verify("event channel", `${channelType}/${channelId}`, copied, events);
  }
  return result;
}
