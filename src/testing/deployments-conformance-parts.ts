import assert from "node:assert/strict";
import { InstanceStatus } from "../deployments/index.js";
import type { ConformanceTest, MakeStore } from "./conformance-api.js";
import { type Combo, code, openFresh, sampleInstance } from "./deployments-fixtures.js";

/** Resources, links, children, metadata, exports, drift and the manage records. */
export function partsConformance(t: Required<ConformanceTest>, makeStore: MakeStore, combo: Combo): void {
  t.test("resources: save, get by id and name, updateStatus, remove — version untouched", async () => {
    const { ds, reopen } = await openFresh(makeStore, combo);
    await ds.instances.save(sampleInstance("i", "I", { version: 3 }));
    await ds.resources.save({
      resourceId: "r2",
      name: "queue",
      type: "aws/sqs/queue",
      instanceId: "i",
      status: 1,
    });
    assert.equal((await ds.resources.get("r2"))?.type, "aws/sqs/queue");
    assert.equal((await ds.resources.getByName("i", "queue"))?.resourceId, "r2");
    await ds.resources.updateStatus("r2", { status: 2, preciseStatus: 7, failureReasons: [] });
    const other = await reopen();
    if (combo.mode === "lazy")
      assert.equal(await other.resources.get("r2"), undefined, "not reachable before its instance is loaded");
    await other.instances.get("i");
    assert.equal(
      (await other.resources.get("r2"))?.preciseStatus,
      7,
      "reachable once its instance is loaded",
    );
    const removed = await other.resources.remove("r2");
    assert.equal(removed.name, "queue");
    assert.equal(await other.resources.getByName("i", "queue"), undefined);
    assert.equal((await other.instances.get("i"))?.version, 3);
    await assert.rejects(other.resources.updateStatus("r2", { status: 1 }), code("E_NOT_FOUND"));
    await assert.rejects(
      ds.resources.save({ resourceId: "x", name: "x", type: "t", instanceId: "ghost", status: 1 }),
      code("E_NOT_FOUND"),
    );
  });

  t.test("resource drift: save marks the resource drifted, get, remove clears it", async () => {
    const { ds, reopen } = await openFresh(makeStore, combo);
    await ds.instances.save(sampleInstance("i", "I"));
    await ds.resources.saveDrift({
      resourceId: "i-res-orders",
      resourceName: "orders",
      specData: {},
      difference: { a: 1 },
      timestamp: 10,
    });
    const other = await reopen();
    await other.instances.get("i");
    assert.deepEqual((await other.resources.getDrift("i-res-orders"))?.difference, { a: 1 });
    assert.equal((await other.resources.get("i-res-orders"))?.drifted, true);
    assert.equal((await other.resources.removeDrift("i-res-orders"))?.timestamp, 10);
    assert.equal(await other.resources.getDrift("i-res-orders"), undefined);
    assert.equal((await other.resources.get("i-res-orders"))?.drifted, false);
  });

  t.test("links: save, get, by name, data mappings, updateStatus, drift, remove", async () => {
    const { ds, reopen } = await openFresh(makeStore, combo);
    await ds.instances.save(sampleInstance("i", "I"));
    await ds.links.save({
      linkId: "l2",
      name: "api::orders",
      instanceId: "i",
      status: 1,
      resourceDataMappings: { "api::spec.env": "x", "ordersTable::spec.y": "y" },
    });
    const other = await reopen();
    assert.equal((await other.links.getByName("i", "api::orders"))?.linkId, "l2");
    assert.deepEqual(
      (await other.links.listWithResourceDataMappings("i", "orders")).map((l) => l.linkId),
      ["i-link-1"],
    );
    assert.deepEqual(
      (await other.links.listWithResourceDataMappings("i", "api")).map((l) => l.linkId),
      ["l2"],
    );
    await other.links.updateStatus("l2", { status: 2 });
    assert.equal((await other.links.get("l2"))?.status, 2);
    await other.links.saveDrift({ linkId: "l2", linkName: "api::orders", resourceADrift: { x: 1 } });
    assert.equal((await other.links.get("l2"))?.drifted, true);
    assert.deepEqual((await other.links.getDrift("l2"))?.resourceADrift, { x: 1 });
    await other.links.removeDrift("l2");
    assert.equal(await other.links.getDrift("l2"), undefined);
    assert.equal((await other.links.remove("l2")).name, "api::orders");
    assert.equal(await other.links.get("l2"), undefined);
    await assert.rejects(
      other.links.save({ linkId: "l3", name: "fn::orders", instanceId: "i", status: 1 }),
      code("E_ALREADY_EXISTS"),
    );
  });

  t.test("children: inline save, expanded get, attach, saveDependencies, detach", async () => {
    const { ds, reopen } = await openFresh(makeStore, combo);
    const child = { ...sampleInstance("c", "Child"), version: 2 };
    await ds.instances.save(sampleInstance("p", "Parent", { childBlueprints: { network: child } }));
    const other = await reopen();
    const parent = await other.instances.get("p");
    const loaded = parent?.childBlueprints.network;
    assert.ok(typeof loaded === "object");
    assert.equal(loaded.instanceName, "Child");
    assert.equal((await other.children.get("p", "network"))?.version, 2);
    assert.equal(
      (await other.resources.get("c-res-orders"))?.name,
      "orders",
      "a loaded child's resources are reachable",
    );

    await other.instances.save(sampleInstance("c2", "Child2"));
    await other.children.attach("p", "c2", "storage");
    await other.children.saveDependencies("p", "storage", {
      dependsOnResources: ["orders"],
      dependsOnChildren: ["network"],
    });
    const third = await reopen();
    assert.equal((await third.children.get("p", "storage"))?.instanceId, "c2");
    assert.deepEqual((await third.instances.get("p"))?.childDependencies.storage?.dependsOnChildren, [
      "network",
    ]);
    await third.children.detach("p", "storage");
    assert.equal(await third.children.get("p", "storage"), undefined);
    assert.equal(
      (await third.instances.get("c2"))?.instanceName,
      "Child2",
      "detach keeps the child instance",
    );
    await assert.rejects(third.children.attach("p", "ghost", "x"), code("E_NOT_FOUND"));
    await assert.rejects(third.children.detach("p", "storage"), code("E_NOT_FOUND"));
  });

  t.test("metadata and exports: get, save, remove", async () => {
    const { ds, reopen } = await openFresh(makeStore, combo);
    await ds.instances.save(sampleInstance("i", "I", { version: 6 }));
    await ds.metadata.save("i", { build: 42 });
    await ds.exports.save("i", "url", { value: "https://x", type: "string", field: "values.url" });
    const other = await reopen();
    assert.deepEqual(await other.metadata.get("i"), { build: 42 });
    assert.equal((await other.exports.get("i", "url"))?.value, "https://x");
    assert.deepEqual(Object.keys(await other.exports.getAll("i")).sort(), ["tableArn", "url"]);
    assert.equal((await other.exports.remove("i", "url"))?.value, "https://x");
    assert.deepEqual(await other.metadata.remove("i"), { build: 42 });
    assert.deepEqual(await other.metadata.get("i"), {});
    await other.exports.saveAll("i", { only: { value: 1, type: "integer", field: "f" } });
    assert.deepEqual(Object.keys(await other.exports.removeAll("i")), ["only"]);
    assert.deepEqual(await (await reopen()).exports.getAll("i"), {});
    assert.equal((await (await reopen()).instances.get("i"))?.version, 6);
    await assert.rejects(other.metadata.get("ghost"), code("E_NOT_FOUND"));
  });

  t.test("changesets and validations: get, save, remove, cleanup before a threshold", async () => {
    const { ds, reopen } = await openFresh(makeStore, combo);
    for (let i = 0; i < 4; i++)
      await ds.changesets.save({
        id: `cs${i}`,
        instanceId: "i",
        destroy: false,
        status: "done",
        blueprintLocation: "b.yaml",
        created: 1000 * (i + 1),
      });
    await ds.validations.save({ id: "v1", status: "passed", blueprintLocation: "b.yaml", created: 500 });
    const other = await reopen();
    assert.equal((await other.changesets.get("cs2"))?.created, 3000);
    assert.equal(await other.changesets.cleanup(new Date(2500 * 1000)), 2);
    assert.equal(await (await reopen()).changesets.get("cs0"), undefined);
    assert.equal((await (await reopen()).changesets.get("cs3"))?.created, 4000);
    assert.equal((await other.changesets.remove("cs3"))?.id, "cs3");
    assert.equal(await other.changesets.remove("cs3"), undefined);
    assert.equal((await other.validations.get("v1"))?.status, "passed");
    assert.equal(await other.validations.cleanup(new Date(400 * 1000)), 0);
    assert.equal(await other.validations.cleanup(new Date(600 * 1000)), 1);
  });

  t.test("reconciliation results and cleanup operations: latest/all queries", async () => {
    const { ds, reopen } = await openFresh(makeStore, combo);
    await ds.reconciliationResults.save({ id: "r1", changesetId: "cs", instanceId: "i", created: 10 });
    await ds.reconciliationResults.save({ id: "r2", changesetId: "cs", instanceId: "j", created: 30 });
    await ds.reconciliationResults.save({ id: "r3", changesetId: "other", instanceId: "i", created: 20 });
    await ds.cleanupOperations.save({
      id: "o1",
      cleanupType: "events",
      status: "done",
      startedAt: 5,
      thresholdDate: 1,
    });
    await ds.cleanupOperations.save({
      id: "o2",
      cleanupType: "events",
      status: "running",
      startedAt: 9,
      thresholdDate: 2,
    });
    await ds.cleanupOperations.save({
      id: "o3",
      cleanupType: "changesets",
      status: "done",
      startedAt: 99,
      thresholdDate: 3,
    });
    const other = await reopen();
    assert.equal((await other.reconciliationResults.getLatestByChangesetId("cs"))?.id, "r2");
    assert.deepEqual(
      (await other.reconciliationResults.getAllByChangesetId("cs")).map((r) => r.id),
      ["r2", "r1"],
    );
    assert.equal((await other.reconciliationResults.getLatestByInstanceId("i"))?.id, "r3");
    assert.deepEqual(
      (await other.reconciliationResults.getAllByInstanceId("i")).map((r) => r.id),
      ["r3", "r1"],
    );
    assert.equal(await other.reconciliationResults.getLatestByInstanceId("nobody"), undefined);
    assert.equal((await other.cleanupOperations.getLatestByType("events"))?.id, "o2");
    assert.equal(await other.cleanupOperations.cleanup(new Date(10_000)), 2);
    assert.equal(await other.reconciliationResults.cleanup(new Date(15_000)), 1);
    assert.equal(await other.reconciliationResults.get("r1"), undefined);
  });

  t.test("status values are numeric and survive a round trip", async () => {
    const { ds, reopen } = await openFresh(makeStore, combo);
    await ds.instances.save(sampleInstance("i", "I", { status: InstanceStatus.DestroyRollbackFailed }));
    assert.equal((await (await reopen()).instances.get("i"))?.status, 11);
  });
}
