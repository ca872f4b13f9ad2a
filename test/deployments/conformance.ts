import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { generateKey, keyEncrypter } from "../../src/crypto/index.js";
import { openDeploymentStore } from "../../src/deployments/index.js";
import { instanceConformance } from "./conformance-instances.js";
import { partsConformance } from "./conformance-parts.js";
import { storageConformance } from "./conformance-storage.js";
import {
  ALL_COMBOS,
  type Combo,
  code,
  countingStore,
  type MakeStore,
  openFresh,
  sampleInstance,
} from "./support.js";

/**
 * The deployment container's conformance suite (§5.13–15 of seed-behaviour.md and every
 * sub-container operation), run once per mode × layout combination on the given store.
 * `makeStore` is called once per test; it may return the same store every time.
 */
export function deploymentConformance(
  makeStore: MakeStore,
  { combos = ALL_COMBOS, concurrency = 1 }: { combos?: readonly Combo[]; concurrency?: number } = {},
): void {
  // Every test uses its own prefix, so tests of one combination may overlap (slow stores).
  for (const combo of combos)
    describe(`${combo.mode} / ${combo.layout}`, { concurrency }, () => {
      instanceConformance(makeStore, combo);
      partsConformance(makeStore, combo);
      storageConformance(makeStore, combo);
      encryptionConformance(makeStore, combo);
    });

  describe("opening", () => {
    test("bad options are refused at once, naming the option", async () => {
      const store = await makeStore();
      const bad: [string, Record<string, unknown>][] = [
        ["mode", { mode: "sometimes" }],
        ["layout", { layout: "zip" }],
        ["maxChunkBytes", { maxChunkBytes: 0 }],
        ["maxEventPartitionBytes", { maxEventPartitionBytes: -1 }],
        ["recentEventsSeconds", { recentEventsSeconds: 1.5 }],
        ["clock", { clock: "now" }],
      ];
      for (const [option, options] of bad)
        await assert.rejects(
          openDeploymentStore(store, options as never),
          code("E_INVALID_CONFIG", (e) => assert.equal(e.details.option, option)),
        );
      await assert.rejects(openDeploymentStore(store, { prefix: "../up" }), code("E_INVALID_NAME"));
    });

    test("a store that ignores preconditions is refused before any write", async () => {
      const { store, counts } = countingStore(await makeStore());
      for (const broken of [{ createOnly: false }, { compareAndSwap: false }]) {
        const liar = {
          ...store,
          name: store.name,
          probe: async () => ({ ...(await store.probe()), ...broken }),
        };
        await assert.rejects(openDeploymentStore(liar), code("E_UNSUPPORTED_STORE"));
      }
      assert.equal(counts.put + counts.delete, 0);
    });

    test("eager mode loads everything at open: later reads of loaded records cost no request", async () => {
      const { raw, prefix, ds } = await openFresh(makeStore, { mode: "lazy", layout: "per-entity" });
      await ds.instances.saveBatch([sampleInstance("a", "A"), sampleInstance("b", "B")]);
      const { store, counts, reset } = countingStore(raw);
      const eager = await openDeploymentStore(store, { prefix, mode: "eager" });
      assert.ok(counts.list > 0);
      reset();
      assert.equal((await eager.instances.get("b"))?.instanceName, "B");
      assert.equal((await eager.resources.get("a-res-orders"))?.name, "orders");
      assert.equal(counts.get + counts.list, 0);
    });
  });
}

/** Only instances, claims and initialisation (§5.13–14), for stores where the full matrix is slow. */
export function deploymentClaimsConformance(
  makeStore: MakeStore,
  { combos = ALL_COMBOS, concurrency = 1 }: { combos?: readonly Combo[]; concurrency?: number } = {},
): void {
  for (const combo of combos)
    describe(`${combo.mode} / ${combo.layout}: instances and claims`, { concurrency }, () => {
      instanceConformance(makeStore, combo);
    });
}

function encryptionConformance(makeStore: MakeStore, combo: Combo): void {
  test("with an encrypter every object is sealed for its own key", async () => {
    const encrypter = keyEncrypter({ key: Buffer.from(generateKey(), "base64") });
    const { raw, prefix, ds, reopen } = await openFresh(makeStore, combo, { encrypter });
    await ds.initialiseAndClaim(sampleInstance("i", "SecretName"), 1);
    await ds.events.save({ channelType: "c", channelId: "1", type: "t", data: "SecretEvent" });
    let objects = 0;
    for await (const info of raw.list(`${prefix}/`)) {
      objects++;
      const body = Buffer.from((await raw.get(info.key))?.body ?? []).toString("latin1");
      assert.ok(!body.includes("Secret"), `${info.key} holds plaintext`);
    }
    assert.ok(objects >= 3);
    const other = await reopen();
    assert.equal((await other.instances.get("i"))?.instanceName, "SecretName");
    assert.equal(await other.instances.lookupIdByName("SecretName"), "i");
    assert.equal((await other.events.list("c", "1"))[0]?.data, "SecretEvent");
    // Without the key the objects cannot be read (an eager store already fails at open).
    const wrongKey = keyEncrypter({ key: Buffer.from(generateKey(), "base64") });
    await assert.rejects(
      (async () => (await reopen({ encrypter: wrongKey })).instances.get("i"))(),
      code("E_DECRYPT"),
    );
  });
}
