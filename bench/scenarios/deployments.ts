import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import {
  type DeploymentStore,
  type InstanceInput,
  InstanceStatus,
  openDeploymentStore,
} from "../../src/deployments/index.js";
import { isStateKeeperError } from "../../src/errors.js";
import { fileStore } from "../../src/objectstore/file.js";
import { memoryStore } from "../../src/objectstore/memory.js";
import { isStoreError, type ObjectStore } from "../../src/objectstore/types.js";
import { recordingStore } from "../../src/testing/store-decorators.js";
import { withTempDir } from "../lib/dirs.js";
import { log, perSecond, pick, type Row, type ScenarioResult, timed } from "../lib/measure.js";
import { expectStatus, rawS3 } from "../lib/raw-s3.js";
import { benchPrefix, s3StoreAt } from "../lib/s3.js";
import type { S3Server } from "../lib/server.js";

function instance(i: number): InstanceInput {
  const id = `inst-${i}`;
  return {
    instanceId: id,
    instanceName: `name-${i}`,
    status: InstanceStatus.Deployed,
    lastDeployedTimestamp: 1_700_000_000,
    resourceIds: { orders: `${id}-res-orders` },
    metadata: { team: "platform", padding: "x".repeat(400) },
  };
}

const CLAIMERS = 4;

/** `CLAIMERS` writers, each with its own store object, race to claim one instance until `target` claims won. */
async function claimRace(open: () => Promise<DeploymentStore>, target: number) {
  const setup = await open();
  await setup.initialiseAndClaim(instance(0), InstanceStatus.Preparing);
  const claimers = await Promise.all(Array.from({ length: CLAIMERS }, open));
  let won = 0;
  let conflicts = 0;
  const start = performance.now();
  await Promise.all(
    claimers.map(async (ds) => {
      let version = 1;
      while (won < target) {
        try {
          version = await ds.claimForDeployment("inst-0", version, InstanceStatus.Deploying);
          won++;
        } catch (e) {
          if (!isStateKeeperError(e) || e.code !== "E_VERSION_CONFLICT") throw e;
          version = Number((e.details as { storedVersion?: number }).storedVersion);
          conflicts++;
        }
      }
    }),
  );
  return { perSecond: perSecond(won, performance.now() - start), conflicts };
}

/** The floor: the same race as bare get + put(ifMatch) on the ObjectStore, nothing decoded. */
async function casFloor(stores: ObjectStore[], target: number) {
  const key = "floor/instance.json";
  const body = (v: number) =>
    new TextEncoder().encode(JSON.stringify({ version: v, padding: "x".repeat(700) }));
  await stores[0]?.put(key, body(1), { ifNoneMatch: "*" });
  let won = 0;
  const start = performance.now();
  await Promise.all(
    stores.map(async (store) => {
      while (won < target) {
        const got = await store.get(key);
        if (got === undefined) throw new Error("floor object vanished");
        const v = (JSON.parse(new TextDecoder().decode(got.body)) as { version: number }).version;
        try {
          await store.put(key, body(v + 1), { ifMatch: got.etag });
          won++;
        } catch (e) {
          if (!isStoreError(e, "PRECONDITION_FAILED", "CONFLICT")) throw e;
        }
      }
    }),
  );
  return perSecond(won, performance.now() - start);
}

/** Builds `count` instances once in memory, then lays the same objects onto disk and S3. */
async function populate(count: number, dir: string, server: S3Server) {
  const mem = memoryStore();
  const writer = await openDeploymentStore(mem, { prefix: "big" });
  for (let i = 0; i < count; i += 500)
    await writer.instances.saveBatch(
      Array.from({ length: Math.min(500, count - i) }, (_, k) => instance(i + k)),
    );
  const objects: Array<[string, Uint8Array]> = [];
  for await (const o of mem.list("")) {
    const got = await mem.get(o.key);
    if (got !== undefined) objects.push([o.key, got.body]);
  }
  for (const [key, body] of objects) {
    await mkdir(dirname(join(dir, key)), { recursive: true });
    await writeFile(join(dir, key), body);
  }
  const prefix = benchPrefix("deployments-lazy");
  const raw = rawS3({
    endpoint: server.nodelayEndpoint,
    bucket: server.bucket,
    region: server.region,
    credentials: server.credentials,
    keepAlive: true,
  });
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < objects.length) {
        const [key, body] = objects[next++] as [string, Uint8Array];
        expectStatus(await raw.request("PUT", `${prefix}/${key}`, { body }), "populate", 200);
      }
    }),
  );
  raw.close();
  return { objects: objects.length, s3Prefix: prefix };
}

async function lazyGet(store: ObjectStore, mode: "lazy" | "eager", id: string) {
  const recorded = recordingStore(store);
  const { ms } = await timed(async () => {
    const ds = await openDeploymentStore(recorded.store, { prefix: "big", mode });
    if ((await ds.instances.get(id)) === undefined) throw new Error(`${id} not found`);
  });
  // The probe's own scratch requests are not part of loading.
  const requests = recorded.calls.filter((c) => !c.key.includes("probe") && c.op !== "probe").length;
  return { ms, requests };
}

export async function deploymentsScenario(server: S3Server): Promise<ScenarioResult> {
  const target = pick(300, 30);
  const count = pick(10_000, 1_000);
  const rows: Row[] = [];
  log(`8 deployments: ${CLAIMERS} claimers to ${target} claims on file and S3; lazy load 1 of ${count}`);
  await withTempDir("deployments", async (dir) => {
    const fileClaims = await claimRace(
      () => openDeploymentStore(fileStore(join(dir, "claims")), { prefix: "c" }),
      target,
    );
    const fileFloor = await casFloor(
      Array.from({ length: CLAIMERS }, () => fileStore(join(dir, "floor"))),
      target,
    );
    const claimsPrefix = benchPrefix("claims");
    const s3Claims = await claimRace(
      () => openDeploymentStore(s3StoreAt(server, "nodelay", claimsPrefix), { prefix: "c" }),
      target,
    );
    const floorPrefix = benchPrefix("claims-floor");
    const s3Floor = await casFloor(
      Array.from({ length: CLAIMERS }, () => s3StoreAt(server, "nodelay", floorPrefix)),
      target,
    );
    rows.push(
      {
        metric: `file: claims/s, ${CLAIMERS} concurrent claimers on one instance`,
        unit: "claims/s",
        better: "higher",
        statekeeper: { name: "statekeeper claimForDeployment (file)", value: fileClaims.perSecond },
        baselines: [{ name: "floor: get + put(ifMatch) on the file ObjectStore", value: fileFloor }],
        extra: { versionConflicts: fileClaims.conflicts },
      },
      {
        metric: `s3: claims/s, ${CLAIMERS} concurrent claimers on one instance`,
        unit: "claims/s",
        better: "higher",
        statekeeper: { name: "statekeeper claimForDeployment (s3)", value: s3Claims.perSecond },
        baselines: [{ name: "floor: get + put(ifMatch) on the s3 ObjectStore", value: s3Floor }],
        extra: { versionConflicts: s3Claims.conflicts },
      },
    );
    const big = join(dir, "big");
    const { objects, s3Prefix } = await populate(count, big, server);
    const id = `inst-${Math.floor(count * 0.4321)}`;
    const fileLazy = await lazyGet(fileStore(big), "lazy", id);
    const fileEager = await lazyGet(fileStore(big), "eager", id);
    const s3Lazy = await lazyGet(s3StoreAt(server, "nodelay", s3Prefix), "lazy", id);
    rows.push(
      {
        metric: `file: open + get one instance of ${count} (${objects} objects), ms`,
        unit: "ms",
        better: "lower",
        statekeeper: { name: "statekeeper lazy (file)", value: fileLazy.ms },
        baselines: [{ name: "statekeeper eager open (reads everything)", value: fileEager.ms }],
        extra: { lazyRequests: fileLazy.requests, eagerRequests: fileEager.requests },
      },
      {
        metric: `s3: open + get one instance of ${count}, ms`,
        unit: "ms",
        better: "lower",
        statekeeper: { name: "statekeeper lazy (s3)", value: s3Lazy.ms },
        baselines: [],
        extra: { lazyRequests: s3Lazy.requests },
      },
    );
  });
  return { id: "8-deployments", title: "Records and deployments: claims under contention, lazy load", rows };
}
