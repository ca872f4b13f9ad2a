import { DeleteObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { createBackend } from "../../src/backend/index.js";
import { noopEncrypter } from "../../src/crypto/index.js";
import type { ObjectStore } from "../../src/objectstore/types.js";
import { encodeSnapshot, newRevision, type Snapshot } from "../../src/snapshot/index.js";
import { recordingStore, type StoreCall } from "../../src/testing/store-decorators.js";
import { makeSnapshot } from "../lib/fixtures.js";
import { log, pick, rate, type ScenarioResult } from "../lib/measure.js";
import { expectStatus, rawS3 } from "../lib/raw-s3.js";
import { benchPrefix, benchS3Store, endpointOf, type Gateway, sdkClient } from "../lib/s3.js";
import type { S3Server } from "../lib/server.js";

const ENTRIES = 100;

const describeCall = (c: StoreCall) =>
  `${c.op.toUpperCase()} ${c.key
    .split("/")
    .slice(-2)
    .join("/")
    .replace(/snapshots\/.*/, "snapshots/<rev>")}${
    c.opts?.ifNoneMatch ? " If-None-Match:*" : c.opts?.ifMatch ? " If-Match" : ""
  }`;

/** statekeeper's cycle on a store, with the store requests of one lock cycle and one commit. */
export async function statekeeperS3Cycle(store: ObjectStore, n: number, snapshot: Snapshot) {
  const recorded = recordingStore(store);
  const backend = createBackend(recorded.store, {
    factory: "bench",
    stack: "s3",
    encrypter: noopEncrypter(),
  });
  await (await backend.lock()).unlock();
  let lockCalls: StoreCall[] = [];
  let commitCalls: StoreCall[] = [];
  const perSecond = await rate(n, async () => {
    recorded.calls.length = 0;
    const lock = await backend.lock();
    const afterLock = recorded.calls.length;
    await backend.commit(snapshot);
    const afterCommit = recorded.calls.length;
    await lock.unlock();
    lockCalls = [...recorded.calls.slice(0, afterLock), ...recorded.calls.slice(afterCommit)];
    commitCalls = recorded.calls.slice(afterLock, afterCommit);
  });
  return { perSecond, lockCalls: lockCalls.map(describeCall), commitCalls: commitCalls.map(describeCall) };
}

/**
 * The least a correct client must send per cycle: create-only PUT of the lock, HEAD `current`
 * (its etag is the fence: another writer may have moved it since our last cycle), create-only
 * PUT of the snapshot, compare-and-swap PUT of `current`, DELETE of the lock. Five requests.
 * RGW 16 wants the unquoted ETag in If-Match, which this floor simply knows.
 */
async function sdkFloorCycle(client: S3Client, bucket: string, n: number, bytes: Uint8Array) {
  const base = benchPrefix("s3-floor-sdk");
  const key = (k: string) => `${base}/bench/s3/${k}`;
  const lockBody = new TextEncoder().encode(JSON.stringify({ id: "floor" }));
  return rate(n, async () => {
    await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: key("lock"), Body: lockBody, IfNoneMatch: "*" }),
    );
    const etag = await client
      .send(new HeadObjectCommand({ Bucket: bucket, Key: key("current") }))
      .then((h) => h.ETag?.replaceAll('"', ""))
      .catch(() => undefined);
    const rev = newRevision();
    await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: key(`snapshots/${rev}`), Body: bytes, IfNoneMatch: "*" }),
    );
    const pointer = new TextEncoder().encode(JSON.stringify({ rev }));
    await client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key("current"),
        Body: pointer,
        ...(etag === undefined ? { IfNoneMatch: "*" } : { IfMatch: etag }),
      }),
    );
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key("lock") }));
  });
}

/** The same five requests over node:http with a hand-signed SigV4: no SDK at all. */
async function rawFloorCycle(server: S3Server, gateway: Gateway, n: number, bytes: Uint8Array) {
  const raw = rawS3({
    endpoint: endpointOf(server, gateway),
    bucket: server.bucket,
    region: server.region,
    credentials: server.credentials,
    keepAlive: true,
  });
  const base = benchPrefix("s3-floor-raw");
  const key = (k: string) => `${base}/bench/s3/${k}`;
  const lockBody = new TextEncoder().encode(JSON.stringify({ id: "floor" }));
  try {
    return await rate(n, async () => {
      expectStatus(
        await raw.request("PUT", key("lock"), { body: lockBody, headers: { "if-none-match": "*" } }),
        "lock",
        200,
      );
      const head = await raw.request("HEAD", key("current"));
      const etag = head.status === 200 ? head.etag?.replaceAll('"', "") : undefined;
      const rev = newRevision();
      expectStatus(
        await raw.request("PUT", key(`snapshots/${rev}`), { body: bytes, headers: { "if-none-match": "*" } }),
        "snapshot",
        200,
      );
      const pointer = new TextEncoder().encode(JSON.stringify({ rev }));
      const cond: Record<string, string> =
        etag === undefined ? { "if-none-match": "*" } : { "if-match": etag };
      expectStatus(
        await raw.request("PUT", key("current"), { body: pointer, headers: cond }),
        "current",
        200,
      );
      expectStatus(await raw.request("DELETE", key("lock")), "unlock", 204, 200);
    });
  } finally {
    raw.close();
  }
}

export async function s3CommitScenario(server: S3Server): Promise<ScenarioResult> {
  const n = pick(300, 20);
  const snapshot = makeSnapshot("s3", ENTRIES);
  const bytes = encodeSnapshot(snapshot);
  log(`2 S3 commit cycle: ${n} commits of ${ENTRIES} entries on RGW (tcp_nodelay gateway)`);
  const sk = await statekeeperS3Cycle(benchS3Store(server, "nodelay", "s3-commit"), n, snapshot);
  const client = sdkClient(server, "nodelay");
  const sdkFloor = await sdkFloorCycle(client, server.bucket, n, bytes);
  client.destroy();
  const rawFloor = await rawFloorCycle(server, "nodelay", n, bytes);
  return {
    id: "2-s3-commit",
    title: `Commit cycle on S3 (Ceph RGW 16 on loopback, tcp_nodelay gateway), ${n} commits × ${ENTRIES} entries`,
    rows: [
      {
        metric: "commits/s (lock → write → set current → unlock)",
        unit: "commits/s",
        better: "higher",
        statekeeper: { name: "statekeeper s3 (noop)", value: sk.perSecond },
        baselines: [
          { name: "floor: 5 bare @aws-sdk/client-s3 requests", value: sdkFloor },
          { name: "floor: 5 raw SigV4 node:http requests", value: rawFloor },
        ],
        extra: {
          requestsPerLockCycle: sk.lockCalls.length,
          requestsPerCommit: sk.commitCalls.length,
          floorRequestsPerCycle: 5,
          lockCycle: sk.lockCalls.join(", "),
          commit: sk.commitCalls.join(", "),
        },
      },
    ],
  };
}
