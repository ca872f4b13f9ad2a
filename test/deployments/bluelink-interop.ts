// The bluelink layout against buckets Bluelink's own Go code would write (test/support/bluelink.ts):
// open one and read every kind of element and index; write the same content through statekeeper
// and compare object by object; unnamed instances; ids Bluelink's key scheme would make collide.
// Run on the file store (bluelink.test.ts) and on RGW (bluelink-s3.test.ts).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import {
  copyDeploymentStore,
  type DeploymentStore,
  InstanceStatus,
  openDeploymentStore,
} from "../../src/deployments/index.js";
import { hasErrorCode } from "../../src/errors.js";
import type { ObjectStore } from "../../src/objectstore/index.js";
import {
  BluelinkWriter,
  type GoInstance,
  goLinkState,
  goMarshal,
  goPersistedInstance,
  goResourceState,
} from "../support/bluelink.js";

const NOW = 1_750_000_000;

const ordersTable = goResourceState({
  id: "res-orders-table",
  name: "ordersTable",
  type: "aws/dynamodb/table",
  instanceId: "inst-1",
  status: 2,
  preciseStatus: 3,
  lastDeployedTimestamp: NOW - 100,
  lastDeployAttemptTimestamp: NOW - 100,
  specData: { tableName: "orders", billing: { mode: "PAY_PER_REQUEST" } },
  failureReasons: null,
  description: "Orders table",
  drifted: true,
  lastDriftDetectedTimestamp: NOW - 50,
  durations: { configCompleteDuration: 1200.5, totalDuration: 3000, attemptDurations: [3000] },
});
const ordersFunction = goResourceState({
  id: "res-orders-fn",
  name: "ordersFunction",
  type: "aws/lambda/function",
  instanceId: "inst-1",
  status: 2,
  preciseStatus: 3,
  lastDeployedTimestamp: NOW - 90,
  lastDeployAttemptTimestamp: NOW - 90,
  specData: { handler: "index.handler", environment: { variables: { TABLE: "orders" } } },
  failureReasons: null,
  dependsOnResources: ["ordersTable"],
});
const link = goLinkState({
  id: "link-1",
  name: "ordersFunction::ordersTable",
  instanceId: "inst-1",
  status: 2,
  preciseStatus: 3,
  lastDeployedTimestamp: NOW - 80,
  lastDeployAttemptTimestamp: NOW - 80,
  intermediaryResourceStates: null,
  data: { ordersFunction: { environment: { TABLE: "orders" } } },
  resourceDataMappings: {
    "ordersFunction::spec.environment.variables.TABLE": "ordersFunction.environment.TABLE",
  },
  failureReasons: null,
});
const linkDrifted = { ...link, drifted: true, lastDriftDetectedTimestamp: NOW - 40 };

const parent: GoInstance = {
  id: "inst-1",
  name: "orders_api",
  status: InstanceStatus.Deployed,
  lastStatusUpdateTimestamp: NOW - 10,
  lastDeployedTimestamp: NOW - 100,
  lastDeployAttemptTimestamp: NOW - 120,
  resourceIds: { ordersTable: "res-orders-table", ordersFunction: "res-orders-fn" },
  resources: { "res-orders-table": ordersTable, "res-orders-fn": ordersFunction },
  links: { "link-1": linkDrifted },
  metadata: { build: { commit: "abc123" }, team: "orders" },
  exports: {
    tableArn: {
      value: "arn:aws:dynamodb:eu-west-1:123456789012:table/orders",
      type: "string",
      description: "the orders table",
      field: "resources.ordersTable.spec.arn",
    },
    region: { value: "eu-west-1", type: "string", field: "variables.region" },
  },
  childBlueprints: { networking: "inst-child" },
  childDependencies: { networking: { dependsOnResources: ["ordersTable"] } },
  durations: { prepareDuration: 150.5, totalDuration: 9000 },
  version: 3,
};
// Go's nil maps are written as null (the child was created without resources).
const child: GoInstance = {
  id: "inst-child",
  name: "orders_api-networking",
  status: InstanceStatus.Deployed,
  lastStatusUpdateTimestamp: NOW - 200,
  lastDeployedTimestamp: NOW - 200,
  lastDeployAttemptTimestamp: NOW - 210,
  resourceIds: null,
  resources: null,
  links: null,
  metadata: null,
  exports: null,
  childBlueprints: {},
  version: 1,
};
const emptyInstance = (id: string, name: string): GoInstance => ({
  id,
  name,
  status: 0,
  lastStatusUpdateTimestamp: 0,
  lastDeployedTimestamp: 0,
  lastDeployAttemptTimestamp: 0,
  resourceIds: {},
  resources: {},
  links: {},
  metadata: {},
  exports: {},
  childBlueprints: {},
  version: 0,
});

const resourceDrift = {
  resourceId: "res-orders-table",
  resourceName: "ordersTable",
  specData: { tableName: "orders", billing: { mode: "PROVISIONED" } },
  difference: {
    modifiedFields: [
      { fieldPath: "spec.billing.mode", stateValue: "PAY_PER_REQUEST", driftedValue: "PROVISIONED" },
    ],
    newFields: [],
    removedFields: [],
    unchangedFields: ["spec.tableName"],
  },
  timestamp: NOW - 50,
};
const linkDrift = {
  linkId: "link-1",
  linkName: "ordersFunction::ordersTable",
  resourceADrift: {
    resourceId: "res-orders-fn",
    resourceName: "ordersFunction",
    mappedFieldChanges: [
      {
        resourceFieldPath: "spec.environment.variables.TABLE",
        linkDataPath: "ordersFunction.environment.TABLE",
        linkDataValue: "orders",
        externalValue: "orders-old",
      },
    ],
  },
  timestamp: NOW - 40,
};
const changeset = {
  id: "cs-1",
  instanceId: "inst-1",
  destroy: false,
  status: "CHANGES_STAGED",
  blueprintLocation: "s3://blueprints/orders.blueprint.yaml",
  changes: { newResources: {}, resourceChanges: {}, removedResources: ["legacyQueue"] },
  created: NOW - 300,
};
const validation = {
  id: "val-1",
  status: "VALIDATED",
  blueprintLocation: "s3://blueprints/orders.blueprint.yaml",
  created: NOW - 400,
};
const reconciliation = {
  id: "rr-1",
  changesetId: "cs-1",
  instanceId: "inst-1",
  result: { resources: [], links: [] },
  created: NOW - 250,
};
const cleanup = {
  id: "co-1",
  cleanupType: "events",
  status: "completed",
  startedAt: NOW - 1000,
  endedAt: NOW - 990,
  itemsDeleted: 12,
  thresholdDate: NOW - 86_400,
};
const event = (n: number, channelType: string, channelId: string, end = false) => ({
  id: `0197a1b2-c3d4-7e5f-8a0b-00000000000${n}`,
  type: n % 2 === 0 ? "resourceUpdate" : "instanceUpdate",
  channelType,
  channelId,
  data: JSON.stringify({ step: n }),
  timestamp: NOW - 60 + n,
  end,
});
const events = [
  event(1, "changesets", "cs-1"),
  event(2, "deployments", "inst-1"),
  event(3, "changesets", "cs-1"),
  event(4, "deployments", "inst-1"),
  event(5, "changesets", "cs-1", true),
];

/**
 * A bucket as Bluelink's processes leave it: instances created with `InitialiseAndClaim` and
 * rewritten with `UpdateInstance` (inst-1 renamed on the way, so its old name record stays), a
 * child, an unnamed instance (no name record) and one whose name nests its record in a folder,
 * drift, manage records, and two event channels with `event_index.json`.
 */
async function writeBluelinkBucket(store: ObjectStore, prefix: string): Promise<void> {
  const w = new BluelinkWriter(store, prefix);
  await w.initialiseAndClaim({ ...emptyInstance("inst-1", "orders-api-old") }, 0, NOW - 500);
  await w.updateInstance(parent);
  await w.initialiseAndClaim(child, InstanceStatus.Deployed, NOW - 200);
  await w.initialiseAndClaim(emptyInstance("inst-unnamed", ""), InstanceStatus.Preparing, NOW - 5);
  await w.initialiseAndClaim(
    emptyInstance("inst-billing", "team/billing"),
    InstanceStatus.Deploying,
    NOW - 7,
  );
  await w.createResourceDrift(resourceDrift);
  await w.createLinkDrift(linkDrift);
  await w.createChangeset(changeset);
  await w.createValidation(validation);
  await w.createReconciliationResult(reconciliation);
  await w.createCleanupOperation(cleanup);
  for (const e of events) await w.saveEvent(e);
}

/** Every object under `prefix/`: key (relative to the prefix) → parsed JSON. */
async function objectsUnder(store: ObjectStore, prefix: string): Promise<Map<string, unknown>> {
  const out = new Map<string, unknown>();
  for await (const info of store.list(`${prefix}/`)) {
    const got = await store.get(info.key);
    out.set(info.key.slice(prefix.length + 1), JSON.parse(new TextDecoder().decode(got?.body)));
  }
  return out;
}

/**
 * The objects of a Bluelink bucket as statekeeper writes the same content back: all of them,
 * except the name record Bluelink left behind on a rename (statekeeper releases a renamed
 * instance's old name) and Go's nil maps (null), which come back as empty maps ({}) — Go reads
 * both alike, and can write to the latter.
 */
async function expectedCopy(store: ObjectStore, prefix: string): Promise<Map<string, unknown>> {
  const expected = await objectsUnder(store, prefix);
  expected.delete("instances_by_name/orders-api-old.json");
  const maps = { resourceIds: {}, resources: {}, links: {}, metadata: {}, exports: {} };
  expected.set("instances/inst-child.json", goPersistedInstance({ ...child, ...maps }));
  return expected;
}

async function keysAndEtags(store: ObjectStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const info of store.list(`${prefix}/`)) out.push(`${info.key} ${info.etag}`);
  return out;
}

const code = (c: string) => (e: unknown) => hasErrorCode(e, c as never);

export function bluelinkInteropTests(
  name: string,
  makeStore: () => Promise<ObjectStore> | ObjectStore,
): void {
  const fresh = () => `bl-${randomBytes(5).toString("hex")}`;
  const open = (store: ObjectStore, prefix: string, extra = {}) =>
    openDeploymentStore(store, { layout: "bluelink", prefix, clock: () => new Date(NOW * 1000), ...extra });

  describe(`bluelink layout: ${name}`, { concurrency: 4 }, () => {
    test("opens a bucket Bluelink wrote: every instance, element, child, export, record, event and index", async () => {
      const store = await makeStore();
      const prefix = fresh();
      await writeBluelinkBucket(store, prefix);
      for (const mode of ["lazy", "eager"] as const) {
        const ds = await open(store, prefix, { mode });
        const got = await ds.instances.get("inst-1");
        assert.equal(got?.instanceName, "orders_api");
        assert.equal(got?.version, 3);
        assert.equal(got?.status, InstanceStatus.Deployed);
        assert.equal(got?.lastStatusUpdateTimestamp, NOW - 10);
        assert.deepEqual(got?.durations, { prepareDuration: 150.5, totalDuration: 9000 });
        assert.deepEqual(got?.metadata, { build: { commit: "abc123" }, team: "orders" });
        assert.equal(got?.resources["res-orders-table"]?.resourceId, "res-orders-table");
        assert.equal(got?.resources["res-orders-table"]?.drifted, true);
        assert.equal(got?.links["link-1"]?.linkId, "link-1");
        assert.deepEqual(got?.childDependencies, { networking: { dependsOnResources: ["ordersTable"] } });
        const networking = got?.childBlueprints.networking;
        assert.ok(typeof networking === "object", "the child is loaded");
        assert.equal(networking.instanceName, "orders_api-networking");
        assert.deepEqual(
          [networking.resources, networking.links, networking.exports],
          [{}, {}, {}],
          "Go's nil maps",
        );

        assert.equal(await ds.instances.lookupIdByName("orders_api"), "inst-1");
        assert.equal(await ds.instances.lookupIdByName("team/billing"), "inst-billing");
        assert.equal(
          await ds.instances.lookupIdByName("orders-api-old"),
          undefined,
          "a record left by a rename",
        );
        assert.equal(await ds.instances.lookupIdByName(""), undefined);
        const listed = await ds.instances.list();
        assert.deepEqual(
          listed.instances.map((i) => [i.instanceId, i.instanceName]),
          [
            ["inst-unnamed", ""],
            ["inst-1", "orders_api"],
            ["inst-child", "orders_api-networking"],
            ["inst-billing", "team/billing"],
          ],
        );
        assert.equal((await ds.instances.get("inst-unnamed"))?.version, 1);

        assert.deepEqual((await ds.resources.getByName("inst-1", "ordersFunction"))?.dependsOnResources, [
          "ordersTable",
        ]);
        assert.equal((await ds.resources.get("res-orders-fn"))?.type, "aws/lambda/function");
        assert.deepEqual(await ds.resources.getDrift("res-orders-table"), resourceDrift);
        assert.deepEqual(await ds.links.getDrift("link-1"), linkDrift);
        assert.deepEqual(
          (await ds.links.listWithResourceDataMappings("inst-1", "ordersFunction")).map((l) => l.linkId),
          ["link-1"],
        );
        assert.equal((await ds.children.get("inst-1", "networking"))?.instanceId, "inst-child");
        assert.equal((await ds.exports.get("inst-1", "tableArn"))?.field, "resources.ordersTable.spec.arn");
        assert.deepEqual(await ds.metadata.get("inst-1"), parent.metadata);

        assert.deepEqual(await ds.changesets.get("cs-1"), changeset);
        assert.deepEqual(await ds.validations.get("val-1"), validation);
        assert.equal((await ds.reconciliationResults.getLatestByInstanceId("inst-1"))?.id, "rr-1");
        assert.equal((await ds.cleanupOperations.getLatestByType("events"))?.itemsDeleted, 12);

        const channel = events.filter((e) => e.channelType === "changesets");
        assert.deepEqual(await ds.events.list("changesets", "cs-1"), channel);
        assert.deepEqual(
          await ds.events.get(events[3]?.id as string),
          events[3],
          "found through event_index.json",
        );
        const streamed = [];
        for await (const e of ds.events.stream({
          channelType: "changesets",
          channelId: "cs-1",
          startingEventId: channel[1]?.id as string,
        }))
          streamed.push(e.id);
        assert.deepEqual(streamed, [channel[1]?.id, channel[2]?.id], "from the id, to the end marker");
      }
    });

    test("what statekeeper writes there is what Bluelink's Go code writes, object by object", async () => {
      const store = await makeStore();
      const original = fresh();
      const copy = fresh();
      await writeBluelinkBucket(store, original);
      const from = await open(store, original);
      const to = await open(store, copy);
      await copyEverything(from, to);

      const expected = await expectedCopy(store, original);
      const written = await objectsUnder(store, copy);
      assert.deepEqual([...written.keys()].sort(), [...expected.keys()].sort());
      for (const [key, body] of expected) assert.deepEqual(written.get(key), body, key);

      // A claim and a status update through statekeeper, read back as Bluelink's claim would write them.
      const version = await to.claimForDeployment("inst-1", 3, InstanceStatus.Updating);
      assert.equal(version, 4);
      const claimed = (await objectsUnder(store, copy)).get("instances/inst-1.json");
      assert.deepEqual(
        claimed,
        JSON.parse(
          new TextDecoder().decode(
            goMarshal(
              goPersistedInstance({
                ...parent,
                version: 4,
                status: InstanceStatus.Updating,
                lastStatusUpdateTimestamp: NOW,
              }),
            ),
          ),
        ),
      );
    });

    test("copyDeploymentStore moves a Bluelink bucket to statekeeper's layout and back, verified", async () => {
      const store = await makeStore();
      const [original, own, back] = [fresh(), fresh(), fresh()];
      await writeBluelinkBucket(store, original);
      const before = await keysAndEtags(store, original);
      const bluelink = await open(store, original);
      const statekeeper = await openDeploymentStore(store, { prefix: own });
      const copied = await copyDeploymentStore(bluelink, statekeeper);
      assert.deepEqual(copied, {
        instances: 4,
        resourceDrift: 1,
        linkDrift: 1,
        changesets: 1,
        validations: 1,
        reconciliationResults: 1,
        cleanupOperations: 1,
        eventChannels: 2,
        events: 5,
      });
      assert.deepEqual(await keysAndEtags(store, original), before, "the source is only read");
      const reopened = await openDeploymentStore(store, { prefix: own });
      assert.deepEqual(await reopened.instances.get("inst-1"), await bluelink.instances.get("inst-1"));
      assert.equal(await reopened.instances.lookupIdByName("team/billing"), "inst-billing");
      assert.equal((await reopened.instances.list()).totalCount, 4);
      assert.deepEqual(
        await reopened.events.list("changesets", "cs-1"),
        await bluelink.events.list("changesets", "cs-1"),
      );
      assert.deepEqual(await reopened.resources.getDrift("res-orders-table"), resourceDrift);
      assert.ok(
        (await objectsUnder(store, own)).has("instances_by_name/team_2Fbilling.json"),
        "statekeeper's keys",
      );

      // And back into Bluelink's layout: the very objects Bluelink wrote.
      await copyDeploymentStore(reopened, await open(store, back));
      const expected = await expectedCopy(store, original);
      const written = await objectsUnder(store, back);
      assert.deepEqual([...written.keys()].sort(), [...expected.keys()].sort());
      for (const [key, body] of expected) assert.deepEqual(written.get(key), body, key);
    });

    test("copyDeploymentStore refuses, before writing, ids the target's layout cannot store", async () => {
      const store = await makeStore();
      const [own, target] = [fresh(), fresh()];
      const statekeeper = await openDeploymentStore(store, { prefix: own });
      await statekeeper.instances.save({ instanceId: "fine", instanceName: "fine", status: 0 });
      await statekeeper.instances.save({ instanceId: "a/../b", instanceName: "x", status: 0 });
      await assert.rejects(
        copyDeploymentStore(statekeeper, await open(store, target)),
        code("E_INVALID_NAME"),
      );
      assert.deepEqual(await keysAndEtags(store, target), [], "nothing was written");
    });

    test("a name record Bluelink left behind on a rename is taken over; a live one is not", async () => {
      const store = await makeStore();
      const prefix = fresh();
      await writeBluelinkBucket(store, prefix);
      const ds = await open(store, prefix);
      assert.equal(
        await ds.initialiseAndClaim({ instanceId: "inst-new", instanceName: "orders-api-old", status: 0 }, 0),
        1,
      );
      assert.equal(await ds.instances.lookupIdByName("orders-api-old"), "inst-new");
      assert.deepEqual((await objectsUnder(store, prefix)).get("instances_by_name/orders-api-old.json"), {
        id: "inst-new",
        name: "orders-api-old",
      });
      await assert.rejects(
        ds.initialiseAndClaim({ instanceId: "inst-dup", instanceName: "orders_api", status: 0 }, 0),
        code("E_ALREADY_EXISTS"),
      );
      assert.equal(await ds.instances.get("inst-dup"), undefined, "nothing orphaned");
      await assert.rejects(
        ds.instances.save({ instanceId: "inst-dup", instanceName: "orders_api", status: 0 }),
        code("E_ALREADY_EXISTS"),
      );
    });

    test("unnamed instances: created, claimed and listed with no name record; lookups do not find them", async () => {
      const store = await makeStore();
      const prefix = fresh();
      const ds = await open(store, prefix);
      assert.equal(
        await ds.initialiseAndClaim(
          { instanceId: "u-1", status: InstanceStatus.Preparing },
          InstanceStatus.Preparing,
        ),
        1,
      );
      assert.equal(await ds.claimForDeployment("u-1", 1, InstanceStatus.Deploying), 2);
      const objects = await objectsUnder(store, prefix);
      assert.deepEqual([...objects.keys()], ["instances/u-1.json"]);
      assert.deepEqual(
        objects.get("instances/u-1.json"),
        goPersistedInstance({
          ...emptyInstance("u-1", ""),
          status: InstanceStatus.Deploying,
          lastStatusUpdateTimestamp: NOW,
          version: 2,
        }),
      );
      assert.equal((await ds.instances.list()).totalCount, 1);
      assert.equal(await ds.instances.lookupIdByName(""), undefined);
    });

    test("ids Bluelink's key scheme would clean into another id's key are refused before any write", async () => {
      const store = await makeStore();
      const prefix = fresh();
      const ds = await open(store, prefix);
      const instance = (instanceId: string, instanceName = "n") => ({
        instanceId,
        instanceName,
        status: 0 as const,
      });
      for (const id of ["a//b", "./a", "a/../b", "/a", "a/./b", "a\\b"]) {
        await assert.rejects(ds.instances.save(instance(id)), code("E_INVALID_NAME"), id);
        await assert.rejects(ds.initialiseAndClaim(instance(id), 0), code("E_INVALID_NAME"), id);
      }
      await assert.rejects(ds.instances.save(instance("ok", "team/../billing")), code("E_INVALID_NAME"));
      await assert.rejects(
        ds.instances.save({ ...instance("ok"), childBlueprints: { c: instance("x//y") } }),
        code("E_INVALID_NAME"),
      );
      await assert.rejects(ds.changesets.save({ ...changeset, id: "../cs" }), code("E_INVALID_NAME"));
      await assert.rejects(
        ds.events.save({ channelType: "deployments/../x", channelId: "x", type: "t", data: "" }),
        code("E_INVALID_NAME"),
      );
      assert.deepEqual([...(await objectsUnder(store, prefix)).keys()], [], "nothing was written");
      // The same ids that are exact keys are fine, `/` included.
      await ds.instances.save(instance("team/a", "team/a"));
      assert.deepEqual([...(await objectsUnder(store, prefix)).keys()].sort(), [
        "instances/team/a.json",
        "instances_by_name/team/a.json",
      ]);
      assert.equal((await (await open(store, prefix)).instances.list()).instances[0]?.instanceId, "team/a");
    });
  });
}

/** Reads everything through one store and writes it through another, as a migration would. */
async function copyEverything(from: DeploymentStore, to: DeploymentStore): Promise<void> {
  const { instances } = await from.instances.list();
  for (const { instanceId } of instances) {
    const instance = await from.instances.get(instanceId);
    if (instance !== undefined) await to.instances.save(instance);
  }
  await to.resources.saveDrift((await from.resources.getDrift("res-orders-table")) as never);
  await to.links.saveDrift((await from.links.getDrift("link-1")) as never);
  await to.changesets.save((await from.changesets.get("cs-1")) as never);
  await to.validations.save((await from.validations.get("val-1")) as never);
  await to.reconciliationResults.save((await from.reconciliationResults.get("rr-1")) as never);
  await to.cleanupOperations.save((await from.cleanupOperations.get("co-1")) as never);
  for (const e of events) await to.events.save(e);
}
