import assert from "node:assert/strict";
import { InstanceStatus, openDeploymentStore } from "../deployments/index.js";
import { hasErrorCode } from "../errors.js";
import { memoryStore } from "../objectstore/memory.js";
import { retryingStore } from "../objectstore/retrying.js";
import type { ObjectStore } from "../objectstore/types.js";
import type { ConformanceTest, MakeStore } from "./conformance-api.js";
import { type Combo, code, interceptFirstCas, openFresh, sampleInstance } from "./deployments-fixtures.js";
import { interceptStore } from "./store-decorators.js";

/** Instances, claims and initialisation (§5.13, §5.14). */
export function instanceConformance(t: Required<ConformanceTest>, makeStore: MakeStore, combo: Combo): void {
  t.test("save/get round trip keeps the version; missing is undefined; name lookup works", async () => {
    const { ds, reopen } = await openFresh(makeStore, combo);
    await ds.instances.save(sampleInstance("i-1", "Orders", { version: 4 }));
    const got = await ds.instances.get("i-1");
    assert.equal(got?.instanceName, "Orders");
    assert.equal(got?.version, 4);
    assert.equal(got?.resources["i-1-res-orders"]?.name, "orders");
    assert.equal(await ds.instances.get("nope"), undefined);
    const other = await reopen();
    assert.equal(await other.instances.lookupIdByName("Orders"), "i-1");
    assert.equal(await other.instances.lookupIdByName("orders"), undefined);
    assert.equal((await other.instances.get("i-1"))?.version, 4);
  });

  t.test("list: case-insensitive search, sorted by name, offset/limit with the total count", async () => {
    const { ds } = await openFresh(makeStore, combo);
    const names = ["beta-api", "Alpha-API", "gamma-web", "delta-api", "epsilon-API"];
    await ds.instances.saveBatch(names.map((n, i) => sampleInstance(`id-${i}`, n)));
    const all = await ds.instances.list();
    assert.deepEqual(
      all.instances.map((i) => i.instanceName),
      ["Alpha-API", "beta-api", "delta-api", "epsilon-API", "gamma-web"],
    );
    const page = await ds.instances.list({ search: "API", offset: 1, limit: 2 });
    assert.equal(page.totalCount, 4);
    assert.deepEqual(
      page.instances.map((i) => i.instanceName),
      ["beta-api", "delta-api"],
    );
    assert.equal((await ds.instances.list({ search: "zzz" })).totalCount, 0);
    await assert.rejects(ds.instances.list({ limit: -1 }), code("E_INVALID_ARGUMENT"));
  });

  t.test("getBatch returns input order and reports every missing id at once", async () => {
    const { ds } = await openFresh(makeStore, combo);
    await ds.instances.saveBatch([
      sampleInstance("a", "A"),
      sampleInstance("b", "B"),
      sampleInstance("c", "C"),
    ]);
    const got = await ds.instances.getBatch(["c", "a", "b"]);
    assert.deepEqual(
      got.map((i) => i.instanceId),
      ["c", "a", "b"],
    );
    await assert.rejects(
      ds.instances.getBatch(["a", "x", "b", "y"]),
      code("E_NOT_FOUND", (e) => assert.deepEqual(e.details.missingIds, ["x", "y"])),
    );
  });

  t.test("updateStatus and save never change the version; missing instance → E_NOT_FOUND", async () => {
    const { ds, reopen } = await openFresh(makeStore, combo);
    await ds.instances.save(sampleInstance("i", "I", { version: 7 }));
    await ds.instances.updateStatus("i", {
      status: InstanceStatus.Destroying,
      lastStatusUpdateTimestamp: 42,
    });
    await ds.instances.save(sampleInstance("i", "I", { version: 1, status: InstanceStatus.Updating }));
    const fresh = await (await reopen()).instances.get("i");
    assert.equal(fresh?.version, 7);
    assert.equal(fresh?.status, InstanceStatus.Updating);
    await assert.rejects(ds.instances.updateStatus("missing", { status: 1 }), code("E_NOT_FOUND"));
  });

  t.test("a save from a stale view never rolls back a concurrent claim's version", async () => {
    const { ds, reopen } = await openFresh(makeStore, combo);
    await ds.instances.save(sampleInstance("i", "I", { version: 1 }));
    const stale = await ds.instances.get("i");
    assert.ok(stale);
    assert.equal(await (await reopen()).claimForDeployment("i", 1, InstanceStatus.Deploying), 2);
    await ds.instances.save({ ...stale, metadata: { edited: true } });
    const fresh = await (await reopen()).instances.get("i");
    assert.equal(fresh?.version, 2);
    assert.deepEqual(fresh?.metadata, { edited: true });
  });

  t.test("remove returns the instance and drops its name record; missing → E_NOT_FOUND", async () => {
    const { ds, reopen } = await openFresh(makeStore, combo);
    await ds.instances.save(sampleInstance("i", "Named"));
    const removed = await ds.instances.remove("i");
    assert.equal(removed.instanceName, "Named");
    const other = await reopen();
    assert.equal(await other.instances.get("i"), undefined);
    assert.equal(await other.instances.lookupIdByName("Named"), undefined);
    await assert.rejects(ds.instances.remove("i"), code("E_NOT_FOUND"));
    // The name is free again.
    await other.instances.save(sampleInstance("j", "Named"));
    assert.equal(await other.instances.lookupIdByName("Named"), "j");
  });

  t.test("a name held by another live instance is refused on save", async () => {
    const { ds } = await openFresh(makeStore, combo);
    await ds.instances.save(sampleInstance("i", "Shared"));
    await assert.rejects(ds.instances.save(sampleInstance("j", "Shared")), code("E_ALREADY_EXISTS"));
    assert.equal(await ds.instances.get("j"), undefined);
    // Renaming releases the old name.
    await ds.instances.save(sampleInstance("i", "Renamed"));
    assert.equal(await ds.instances.lookupIdByName("Shared"), undefined);
    assert.equal(await ds.instances.lookupIdByName("Renamed"), "i");
  });

  t.test("ids and names with separators, dots and prototype keys stay distinct", async () => {
    const { ds, reopen } = await openFresh(makeStore, combo);
    const ids = ["a/b", "a_b", "a_2Fb", "..", "__proto__", "é"];
    for (const [i, id] of ids.entries()) await ds.instances.save(sampleInstance(id, `${id}-name-${i}`));
    const other = await reopen();
    for (const [i, id] of ids.entries()) {
      assert.equal((await other.instances.get(id))?.instanceName, `${id}-name-${i}`);
      assert.equal(await other.instances.lookupIdByName(`${id}-name-${i}`), id);
    }
    assert.equal("instanceName" in {}, false, "no prototype was polluted");
    await assert.rejects(ds.instances.get(""), code("E_INVALID_NAME"));
  });

  t.test(
    "unnamed instances are stored and listed, have no name record, and no lookup finds them",
    async () => {
      const { ds, raw, prefix, reopen } = await openFresh(makeStore, combo);
      const { instanceName: _, ...unnamed } = sampleInstance("u1", "ignored");
      await ds.instances.save(unnamed);
      assert.equal(await ds.initialiseAndClaim({ ...sampleInstance("u2", ""), instanceName: "" }, 0), 1);
      await ds.instances.save(sampleInstance("n1", "Named"));
      const other = await reopen();
      assert.equal((await other.instances.get("u1"))?.instanceName, "");
      assert.equal((await other.instances.get("u2"))?.version, 1);
      const listed = await other.instances.list();
      assert.deepEqual(
        listed.instances.map((i) => [i.instanceId, i.instanceName]),
        [
          ["u1", ""],
          ["u2", ""],
          ["n1", "Named"],
        ],
      );
      assert.equal((await other.instances.list({ search: "nam" })).totalCount, 1);
      assert.equal(await other.instances.lookupIdByName(""), undefined);
      const nameRecords = [];
      for await (const info of raw.list(`${prefix}/instances_by_name/`)) nameRecords.push(info.key);
      assert.equal(nameRecords.length, 1, "only the named instance has a name record");
      // Naming it later writes a record; dropping the name again releases it.
      await other.instances.save(sampleInstance("u1", "Later"));
      assert.equal(await ds.instances.lookupIdByName("Later"), "u1");
      await other.instances.save({ ...sampleInstance("u1", "x"), instanceName: "" });
      assert.equal(await ds.instances.lookupIdByName("Later"), undefined);
      assert.equal((await ds.instances.remove("u1")).instanceName, "");
    },
  );

  t.test("claim: the matching version bumps by one and sets the status", async () => {
    const { ds, reopen } = await openFresh(makeStore, combo);
    await ds.instances.save(sampleInstance("i", "I", { version: 3 }));
    assert.equal(await ds.claimForDeployment("i", 3, InstanceStatus.Deploying), 4);
    const fresh = await (await reopen()).instances.get("i");
    assert.equal(fresh?.version, 4);
    assert.equal(fresh?.status, InstanceStatus.Deploying);
    assert.equal(fresh?.resources["i-res-orders"]?.name, "orders", "a claim keeps the rest of the record");
  });

  t.test("claim: a stale version conflicts with the stored version and writes nothing", async () => {
    const { ds, raw, prefix } = await openFresh(makeStore, combo);
    await ds.instances.save(sampleInstance("i", "I", { version: 5 }));
    const before = await snapshotStore(raw, prefix);
    await assert.rejects(
      ds.claimForDeployment("i", 4, InstanceStatus.Deploying),
      code("E_VERSION_CONFLICT", (e) => assert.equal(e.details.storedVersion, 5)),
    );
    assert.deepEqual(await snapshotStore(raw, prefix), before);
  });

  t.test(
    "claim: losing the conditional write to a concurrent claimer reports the fresh version",
    async () => {
      const { raw, prefix } = await openFresh(makeStore, combo);
      const setup = await openDeploymentStore(raw, { ...combo, prefix });
      await setup.instances.save(sampleInstance("i", "I", { version: 1 }));
      const racing = interceptFirstCas(raw, async () => {
        assert.equal(await setup.claimForDeployment("i", 1, InstanceStatus.Updating), 2);
      });
      const ds = await openDeploymentStore(racing, { ...combo, prefix });
      await assert.rejects(
        ds.claimForDeployment("i", 1, InstanceStatus.Deploying),
        code("E_VERSION_CONFLICT", (e) => assert.equal(e.details.storedVersion, 2)),
      );
      const fresh = await (await openDeploymentStore(raw, { ...combo, prefix })).instances.get("i");
      assert.equal(fresh?.version, 2);
      assert.equal(fresh?.status, InstanceStatus.Updating);
    },
  );

  t.test("claim: a concurrent save that keeps the version does not make the claim fail", async () => {
    const { raw, prefix } = await openFresh(makeStore, combo);
    const setup = await openDeploymentStore(raw, { ...combo, prefix });
    await setup.instances.save(sampleInstance("i", "I", { version: 1 }));
    const racing = interceptFirstCas(raw, async () => {
      await setup.metadata.save("i", { touched: true });
    });
    const ds = await openDeploymentStore(racing, { ...combo, prefix });
    assert.equal(await ds.claimForDeployment("i", 1, InstanceStatus.Deploying), 2);
    const fresh = await (await openDeploymentStore(raw, { ...combo, prefix })).instances.get("i");
    assert.equal(fresh?.version, 2);
    assert.deepEqual(fresh?.metadata, { touched: true }, "the concurrent save is kept");
  });

  t.test("a claim whose response is lost is applied once: settled by put id, never run twice", async () => {
    // The store keeps put ids (memory does; S3 keeps them in metadata; a local file never loses
    // a response). The first put after setup lands and its answer is lost.
    const inner = memoryStore();
    const prefix = "lost-claim";
    const setup = await openDeploymentStore(inner, { ...combo, prefix });
    await setup.instances.save(sampleInstance("i", "I", { version: 1 }));
    let lose = true;
    const lossy = retryingStore(
      interceptStore(inner, (call) => {
        if (call.op !== "put" || !lose) return undefined;
        lose = false;
        return "lose-response";
      }),
      { baseDelayMs: 1 },
    );
    const ds = await openDeploymentStore(lossy, { ...combo, prefix });
    assert.equal(await ds.claimForDeployment("i", 1, InstanceStatus.Deploying), 2);
    assert.equal(lose, false, "a response was lost");
    const got = await (await openDeploymentStore(inner, { ...combo, prefix })).instances.get("i");
    assert.equal(got?.version, 2, "claimed once");
    assert.equal(got?.status, InstanceStatus.Deploying);
    assert.equal(JSON.stringify(got).includes("_writeId"), false, "no write id in the record body");
  });

  t.test("claim: a missing instance is E_NOT_FOUND", async () => {
    const { ds } = await openFresh(makeStore, combo);
    await assert.rejects(ds.claimForDeployment("ghost", 0, InstanceStatus.Deploying), code("E_NOT_FOUND"));
  });

  t.test("claim: 10 concurrent claimers at one version → exactly one winner", async () => {
    const { ds, reopen } = await openFresh(makeStore, combo);
    await ds.instances.save(sampleInstance("i", "I", { version: 9 }));
    const claimers = await Promise.all(Array.from({ length: 10 }, () => reopen()));
    const results = await Promise.allSettled(claimers.map((c) => c.claimForDeployment("i", 9, 1)));
    const won = results.filter((r) => r.status === "fulfilled");
    assert.equal(won.length, 1);
    assert.equal(won[0]?.status === "fulfilled" && won[0].value, 10);
    for (const r of results)
      if (r.status === "rejected") assert.ok(hasErrorCode(r.reason, "E_VERSION_CONFLICT"), String(r.reason));
    assert.equal((await (await reopen()).instances.get("i"))?.version, 10);
  });

  t.test(
    "initialise: version 1 with its name record; a second call for the id leaves it untouched",
    async () => {
      const { ds, raw, prefix, reopen } = await openFresh(makeStore, combo);
      assert.equal(await ds.initialiseAndClaim(sampleInstance("i", "Fresh"), InstanceStatus.Preparing), 1);
      const other = await reopen();
      assert.equal(await other.instances.lookupIdByName("Fresh"), "i");
      const stored = await other.instances.get("i");
      assert.equal(stored?.version, 1);
      assert.equal(stored?.status, InstanceStatus.Preparing);
      const before = await snapshotStore(raw, prefix);
      await assert.rejects(
        other.initialiseAndClaim(sampleInstance("i", "Other"), InstanceStatus.Deploying),
        code("E_ALREADY_EXISTS"),
      );
      assert.deepEqual(await snapshotStore(raw, prefix), before);
    },
  );

  t.test("initialise: the same name under another id fails and leaves no orphaned instance", async () => {
    const { ds, reopen } = await openFresh(makeStore, combo);
    await ds.initialiseAndClaim(sampleInstance("first", "Taken"), InstanceStatus.Preparing);
    await assert.rejects(
      ds.initialiseAndClaim(sampleInstance("second", "Taken"), InstanceStatus.Preparing),
      code("E_ALREADY_EXISTS", (e) => assert.equal(e.details.existingInstanceId, "first")),
    );
    const other = await reopen();
    assert.equal(await other.instances.get("second"), undefined);
    assert.deepEqual(
      (await other.instances.list()).instances.map((i) => i.instanceId),
      ["first"],
    );
    assert.equal(await other.instances.lookupIdByName("Taken"), "first");
  });
}

/** Every object's key and etag, to show that nothing was written. */
async function snapshotStore(raw: ObjectStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const info of raw.list(`${prefix}/`)) out.push(`${info.key} ${info.etag}`);
  return out;
}
