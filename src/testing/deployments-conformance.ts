import assert from "node:assert/strict";
import { generateKey, keyEncrypter } from "../crypto/index.js";
import { openDeploymentStore } from "../deployments/index.js";
import {
  type ConformanceOptions,
  type ConformanceTest,
  type MakeStore,
  suiteTitle,
  withGroups,
} from "./conformance-api.js";
import { instanceConformance } from "./deployments-conformance-instances.js";
import { partsConformance } from "./deployments-conformance-parts.js";
import { storageConformance } from "./deployments-conformance-storage.js";
import { ALL_COMBOS, type Combo, code, openFresh, sampleInstance } from "./deployments-fixtures.js";
import { countCalls, recordingStore } from "./store-decorators.js";

export interface DeploymentStoreConformanceOptions extends ConformanceOptions {
  /** The mode × layout combinations to run, each in its own group (default all four). */
  combos?: readonly Combo[];
  /**
   * `"all"` (default): every test. `"claims"`: only instances, claims and initialisation
   * (§5.13–14) per combination, for a second combination on a store where the full matrix is slow.
   */
  scope?: "all" | "claims";
}

/**
 * The deployment container's conformance suite (Bluelink's container behaviour and every
 * sub-container operation), run on deployment stores opened on `makeStore()`, once per mode ×
 * layout combination. Every test works under its own prefix, so a runner may run the tests of
 * one group concurrently (see `ConformanceTest`).
 */
export function deploymentStoreConformance(
  test: ConformanceTest,
  makeStore: MakeStore,
  options: DeploymentStoreConformanceOptions = {},
): void {
  const t = withGroups(test);
  const combos = options.combos ?? ALL_COMBOS;
  const claimsOnly = options.scope === "claims";
  t.describe(suiteTitle("DeploymentStore conformance", options), () => {
    for (const combo of combos)
      t.describe(`${combo.mode} / ${combo.layout}${claimsOnly ? ": instances and claims" : ""}`, () => {
        instanceConformance(t, makeStore, combo);
        if (claimsOnly) return;
        partsConformance(t, makeStore, combo);
        storageConformance(t, makeStore, combo);
        encryptionConformance(t, makeStore, combo);
      });
    if (!claimsOnly) openingConformance(t, makeStore);
  });
}

function openingConformance(t: Required<ConformanceTest>, makeStore: MakeStore): void {
  t.describe("opening", () => {
    t.test("bad options are refused at once, naming the option", async () => {
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

    t.test("a store that ignores preconditions is refused before any write", async () => {
      const { store, calls } = recordingStore(await makeStore());
      for (const broken of [{ createOnly: false }, { compareAndSwap: false }]) {
        const liar = {
          ...store,
          name: store.name,
          probe: async () => ({ ...(await store.probe()), ...broken }),
        };
        await assert.rejects(openDeploymentStore(liar), code("E_UNSUPPORTED_STORE"));
      }
      assert.equal(countCalls(calls, "put", "delete"), 0);
    });

    t.test("eager mode loads everything at open: later reads of loaded records cost no request", async () => {
      const { raw, prefix, ds } = await openFresh(makeStore, { mode: "lazy", layout: "per-entity" });
      await ds.instances.saveBatch([sampleInstance("a", "A"), sampleInstance("b", "B")]);
      const { store, calls } = recordingStore(raw);
      const eager = await openDeploymentStore(store, { prefix, mode: "eager" });
      assert.ok(countCalls(calls, "list") > 0);
      calls.length = 0;
      assert.equal((await eager.instances.get("b"))?.instanceName, "B");
      assert.equal((await eager.resources.get("a-res-orders"))?.name, "orders");
      assert.equal(countCalls(calls, "get", "list"), 0);
    });
  });
}

function encryptionConformance(t: Required<ConformanceTest>, makeStore: MakeStore, combo: Combo): void {
  if (combo.layout === "bluelink") {
    t.test("an encrypter is refused: Bluelink reads plain JSON objects", async () => {
      const encrypter = keyEncrypter({ key: Buffer.from(generateKey(), "base64") });
      await assert.rejects(
        openFresh(makeStore, combo, { encrypter }),
        code("E_INVALID_CONFIG", (e) => assert.equal(e.details.option, "encrypter")),
      );
    });
    return;
  }
  t.test("with an encrypter every object is sealed for its own key", async () => {
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
