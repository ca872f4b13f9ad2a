import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { pathToFileURL } from "node:url";
import { hasErrorCode } from "../../src/errors.js";
import { memoryStore } from "../../src/objectstore/memory.js";
import type { Capabilities, ObjectStore } from "../../src/objectstore/types.js";
import { createRecordStore, openRecordStore } from "../../src/records/store.js";
import { state } from "../../src/testing/records-fixtures.js";
import { recordingStore, type StoreCall } from "../../src/testing/store-decorators.js";

const root = mkdtempSync(join(tmpdir(), "statekeeper-records-open-"));
after(() => rmSync(root, { recursive: true, force: true }));

function lyingStore(caps: Partial<Capabilities>): { store: ObjectStore; calls: StoreCall[] } {
  const inner = memoryStore();
  const wrapped: ObjectStore = {
    ...inner,
    name: "liar",
    probe: async () => ({ ...(await inner.probe()), ...caps, notes: ["pretends"] }),
  };
  return recordingStore(wrapped);
}

test("a store that does not honour create-only or compare-and-swap is refused before any write", async () => {
  for (const [caps, named] of [
    [{ createOnly: false }, "create-only"],
    [{ compareAndSwap: false }, "compare-and-swap"],
  ] as const) {
    const { store, calls } = lyingStore(caps);
    const rs = createRecordStore(store);
    const refused = (e: unknown) =>
      hasErrorCode(e, "E_UNSUPPORTED_STORE") && e.message.includes(named) && e.message.includes("liar");
    await assert.rejects(rs.save(state("a")), refused);
    await assert.rejects(rs.lock("a"), refused);
    await assert.rejects(rs.delete("a"), refused);
    assert.deepEqual(
      calls.map((c) => c.op),
      ["probe"],
      "probed once, lazily, and nothing written",
    );
    assert.equal(await rs.get("a"), undefined, "reads still work");
  }
});

test("the probe runs once per record store, on the first write", async () => {
  const { store, calls } = recordingStore(memoryStore());
  const rs = createRecordStore(store);
  assert.equal(calls.length, 0, "nothing before the first call");
  await rs.save(state("a"));
  await rs.save(state("b"));
  await rs.lock("a");
  assert.equal(calls.filter((c) => c.op === "probe").length, 1);
});

test("openRecordStore opens URLs and stores, with DigitalOcean's default prefix", async () => {
  const url = pathToFileURL(root).href;
  const rs = await openRecordStore(url);
  assert.equal(rs.prefix, "iac-state/");
  await rs.save(state("x/y"));
  const again = await openRecordStore(url);
  assert.equal((await again.get("x/y"))?.state.resource_id, "x/y");
  const mem = await openRecordStore("memory://records-open-test", { prefix: "custom" });
  assert.equal(mem.prefix, "custom/");
  await mem.save(state("m"));
  assert.ok(await (await openRecordStore(memoryStore("records-open-test"), { prefix: "custom/" })).get("m"));
});

test("a bad prefix is refused before the URL is even opened", async () => {
  await assert.rejects(openRecordStore("bogus://nowhere", { prefix: "../escape" }), (e) =>
    hasErrorCode(e, "E_INVALID_NAME"),
  );
  await assert.rejects(openRecordStore("bogus://nowhere"), (e) => hasErrorCode(e, "E_INVALID_CONFIG"));
});
