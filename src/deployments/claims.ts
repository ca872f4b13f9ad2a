import { StateKeeperError } from "../errors.js";
import { checkName, setOwn } from "./codec.js";
import { type DeploymentCore, instanceNotFound } from "./core.js";
import { checkInstanceInput, type InstanceInput, toStored } from "./instances.js";
import type { InstanceStatus } from "./types.js";

/**
 * Compare-and-swap on the instance's version: succeeds only if the stored version is
 * `expectedVersion`, then stores version + 1 with `newStatus`. A stale version is refused
 * without writing (`E_VERSION_CONFLICT`, `details.storedVersion`); losing the conditional write
 * to a concurrent writer re-reads, and if that writer changed the version the conflict carries
 * the fresh one (a concurrent save that kept the version just means one more attempt).
 */
export async function claimForDeployment(
  core: DeploymentCore,
  instanceId: string,
  expectedVersion: number,
  newStatus: InstanceStatus,
): Promise<number> {
  checkName("instance id", instanceId);
  if (!Number.isSafeInteger(expectedVersion) || expectedVersion < 0)
    throw new StateKeeperError("E_INVALID_ARGUMENT", "expectedVersion must be a non-negative integer", {
      details: { instanceId, expectedVersion },
    });
  const { after } = await core.instances.update(instanceId, (current) => {
    if (current === undefined) throw instanceNotFound(instanceId);
    if (current.version !== expectedVersion)
      throw versionConflict(instanceId, expectedVersion, current.version);
    return {
      put: {
        ...current,
        version: current.version + 1,
        status: newStatus,
        lastStatusUpdateTimestamp: core.nowSeconds(),
      },
    };
  });
  return (after as { version: number }).version;
}

/**
 * Creates the instance at version 1 with `status`, create-only, then its name record,
 * create-only. The same id already stored → `E_ALREADY_EXISTS`, nothing written. The name held
 * by another id → `E_ALREADY_EXISTS`, and the instance object just created is removed again
 * (only if it is still exactly what this call wrote), so nothing is left orphaned.
 */
export async function initialiseAndClaim(
  core: DeploymentCore,
  instance: InstanceInput,
  status: InstanceStatus,
): Promise<number> {
  checkInstanceInput(core, { ...instance, childBlueprints: {} });
  for (const child of Object.values(instance.childBlueprints ?? {}))
    core.instances.checkId(
      checkName("child instance id", typeof child === "string" ? child : child.instanceId),
    );
  const record = await toStored({ ...instance, childBlueprints: {} }, async () => {});
  for (const [name, child] of Object.entries(instance.childBlueprints ?? {}))
    setOwn(record.childBlueprints, name, typeof child === "string" ? child : child.instanceId);
  const created = { ...record, version: 1, status, lastStatusUpdateTimestamp: core.nowSeconds() };
  await core.instances.update(created.instanceId, (current) => {
    if (current !== undefined)
      throw alreadyExists(created.instanceId, `instance ${created.instanceId} already exists`);
    return { put: created };
  });

  let holder = await core.names.create(created.instanceName, created.instanceId);
  if (
    holder !== created.instanceId &&
    core.layout === "bluelink" &&
    !(await core.holdsName(holder, created.instanceName))
  ) {
    // A record Bluelink left behind on a rename: take it over with compare-and-swap, unless a
    // live holder got there first.
    try {
      await core.names.claim(created.instanceName, created.instanceId, (id, name) =>
        core.holdsName(id, name),
      );
      holder = created.instanceId;
    } catch (error) {
      if (!(error instanceof StateKeeperError && error.code === "E_ALREADY_EXISTS")) throw error;
      holder = (await core.names.read(created.instanceName))?.instanceId ?? holder;
    }
  }
  if (holder === created.instanceId) return 1;

  const createdJson = JSON.stringify(core.instances.normalise(created));
  await core.instances.update(created.instanceId, (current) =>
    current !== undefined && JSON.stringify(current) === createdJson ? { remove: true } : { keep: true },
  );
  throw alreadyExists(
    created.instanceId,
    `instance name ${JSON.stringify(created.instanceName)} is already used by instance ${holder}`,
    { instanceName: created.instanceName, existingInstanceId: holder },
  );
}

function versionConflict(
  instanceId: string,
  expectedVersion: number,
  storedVersion: number,
): StateKeeperError {
  return new StateKeeperError(
    "E_VERSION_CONFLICT",
    `instance ${instanceId} is at version ${storedVersion}, not the expected ${expectedVersion}`,
    { details: { instanceId, expectedVersion, storedVersion } },
  );
}

function alreadyExists(
  instanceId: string,
  message: string,
  extra: Record<string, unknown> = {},
): StateKeeperError {
  return new StateKeeperError("E_ALREADY_EXISTS", message, { details: { instanceId, ...extra } });
}
