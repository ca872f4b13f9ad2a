import assert from "node:assert/strict";
import { test } from "node:test";
import { openDeploymentStore } from "../../src/deployments/index.js";
import { memoryStore } from "../../src/objectstore/memory.js";
import { sampleInstance } from "../../src/testing/deployments-fixtures.js";
import { countCalls, recordingStore, type StoreCall } from "../../src/testing/store-decorators.js";

const gotKeys = (calls: readonly StoreCall[]) => calls.filter((c) => c.op === "get").map((c) => c.key);

test("a lazy store over 10 000 instances loads one instance with one read and no listing", async () => {
  const raw = memoryStore();
  const writer = await openDeploymentStore(raw, { prefix: "big" });
  for (let i = 0; i < 10_000; i++) await writer.instances.save(sampleInstance(`inst-${i}`, `name-${i}`));

  const { store, calls } = recordingStore(raw);
  const lazy = await openDeploymentStore(store, { prefix: "big" });
  calls.length = 0;
  const got = await lazy.instances.get("inst-4321");
  assert.equal(got?.instanceName, "name-4321");
  assert.deepEqual(gotKeys(calls), ["big/instances/inst-4321.json"]);
  assert.equal(countCalls(calls, "list", "head", "put", "delete"), 0);

  // Its resources and links are now reachable without another request.
  calls.length = 0;
  assert.equal((await lazy.resources.get("inst-4321-res-orders"))?.name, "orders");
  assert.equal((await lazy.links.get("inst-4321-link-1"))?.name, "fn::orders");
  assert.equal(countCalls(calls, "get", "list"), 0);

  // A name lookup is one read of the name record, never a listing.
  calls.length = 0;
  assert.equal(await lazy.instances.lookupIdByName("name-77"), "inst-77");
  assert.deepEqual(gotKeys(calls), ["big/instances_by_name/name-77.json"]);
  assert.equal(countCalls(calls, "list"), 0);
});

test("a lazy chunked store loads one instance by reading the index and one chunk", async () => {
  const raw = memoryStore();
  const writer = await openDeploymentStore(raw, {
    prefix: "big",
    layout: "chunked",
    maxChunkBytes: 64 * 1024,
  });
  for (let i = 0; i < 600; i++) await writer.instances.save(sampleInstance(`inst-${i}`, `name-${i}`));

  const { store, calls } = recordingStore(raw);
  const lazy = await openDeploymentStore(store, { prefix: "big", layout: "chunked" });
  calls.length = 0;
  assert.equal((await lazy.instances.get("inst-555"))?.instanceName, "name-555");
  assert.equal(gotKeys(calls).length, 2);
  assert.equal(gotKeys(calls)[0], "big/instances_index.json");
  assert.match(gotKeys(calls)[1] ?? "", /^big\/instances_c[1-9]\d*\.json$/);
  assert.equal(countCalls(calls, "list"), 0);
});
