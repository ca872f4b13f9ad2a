import { randomBytes } from "node:crypto";
import { DeleteObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { createBackend, type HeadMode } from "../../src/backend/index.js";
import { StackLog } from "../../src/backend/stack-log.js";
import { noopEncrypter } from "../../src/crypto/index.js";
import type { ObjectStore } from "../../src/objectstore/types.js";
import { encodeSnapshot, newRevision, type Snapshot } from "../../src/snapshot/index.js";
import { recordingStore, type StoreCall } from "../../src/testing/store-decorators.js";
import { makeSnapshot } from "../lib/fixtures.js";
import { heldLockCommits } from "../lib/held-lock.js";
import { log, pick, rate, type ScenarioResult, samples } from "../lib/measure.js";
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
export async function statekeeperS3Cycle(
  store: ObjectStore,
  n: number,
  snapshot: Snapshot,
  head: HeadMode = "pointer",
) {
  const recorded = recordingStore(store);
  const backend = createBackend(recorded.store, {
    factory: "bench",
    stack: "s3",
    encrypter: noopEncrypter(),
    head,
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

/** Bytes of the stack log rows' commit payload: about a one-entry format-2 manifest. */
const LOG_PAYLOAD_BYTES = 4096;

/**
 * What finding the head costs a cold and a warm reader of a stack log of `entries` entries (the
 * protocol alone, src/backend/stack-log.ts), next to a GET of a pointer object; and listing its
 * commits, next to the bare listing.
 */
async function stackLogOnS3(server: S3Server, entries: number) {
  const payload = randomBytes(LOG_PAYLOAD_BYTES);
  const recorded = recordingStore(benchS3Store(server, "nodelay", "s3-log"));
  const open = () =>
    new StackLog(recorded.store, "bench/s3/log/", "bench/s3/head", { subject: "stack bench/s3" });
  const log = open();
  const lease = await log.acquire({ leaseMs: 30_000 });
  // Grow the log to `entries` (each commit after the one before, as a holder writes).
  while (lease.head < entries) await lease.commit(() => payload);
  await lease.release();
  const rounds = pick(20, 5);
  const coldMs = (await samples(rounds, () => open().head())).reduce((a, b) => a + b, 0) / rounds;
  const warm = open();
  await warm.head();
  const warmMs = (await samples(rounds, () => warm.head())).reduce((a, b) => a + b, 0) / rounds;
  // Listing the revisions: one listing plus one read per 256 entries, against the bare listing.
  const commitsMs = (await samples(rounds, () => open().commits())).reduce((a, b) => a + b, 0) / rounds;
  const listingMs =
    (
      await samples(rounds, async () => {
        for await (const _ of recorded.store.list("bench/s3/log/")) void _;
      })
    ).reduce((a, b) => a + b, 0) / rounds;
  const pointerKey = "bench/s3/current";
  await recorded.store.put(pointerKey, new TextEncoder().encode('{"rev":"x"}'));
  const pointerMs =
    (await samples(rounds, () => recorded.store.get(pointerKey))).reduce((a, b) => a + b, 0) / rounds;
  return {
    coldMs,
    warmMs,
    pointerMs,
    commitsMs,
    listingMs,
  };
}

/** The least a commit that is one object costs: a create-only PUT of a fresh key with the bare SDK. */
async function sdkCreateFloor(client: S3Client, bucket: string, n: number, bytes: Uint8Array) {
  const base = benchPrefix("s3-floor-create");
  return rate(n, (i) =>
    client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: `${base}/log/${String(i).padStart(16, "0")}`,
        Body: bytes,
        IfNoneMatch: "*",
      }),
    ),
  );
}

export async function s3CommitScenario(server: S3Server): Promise<ScenarioResult> {
  const n = pick(300, 20);
  const snapshot = makeSnapshot("s3", ENTRIES);
  const bytes = encodeSnapshot(snapshot);
  log(`2 S3 commit cycle: ${n} commits of ${ENTRIES} entries on RGW (tcp_nodelay gateway)`);
  const sk = await statekeeperS3Cycle(benchS3Store(server, "nodelay", "s3-commit"), n, snapshot);
  const skLog = await statekeeperS3Cycle(
    benchS3Store(server, "nodelay", "s3-commit-log"),
    n,
    snapshot,
    "log",
  );
  const held = await heldLockCommits(benchS3Store(server, "nodelay", "s3-held"), n, snapshot, "pointer");
  const heldLog = await heldLockCommits(benchS3Store(server, "nodelay", "s3-held-log"), n, snapshot, "log");
  const client = sdkClient(server, "nodelay");
  const sdkFloor = await sdkFloorCycle(client, server.bucket, n, bytes);
  const createFloor = await sdkCreateFloor(client, server.bucket, n, randomBytes(LOG_PAYLOAD_BYTES));
  client.destroy();
  const rawFloor = await rawFloorCycle(server, "nodelay", n, bytes);
  const logEntries = pick(3_000, 300);
  const logged = await stackLogOnS3(server, logEntries);
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
      {
        metric: "commits/s (lock → commit → unlock), stack log",
        unit: "commits/s",
        better: "higher",
        statekeeper: { name: "statekeeper s3 (noop, log)", value: skLog.perSecond },
        baselines: [
          { name: "floor: 5 bare @aws-sdk/client-s3 requests", value: sdkFloor },
          { name: "statekeeper s3 (noop, pointer), the cycle above", value: sk.perSecond },
        ],
        extra: {
          requestsPerLockCycle: skLog.lockCalls.length,
          requestsPerCommit: skLog.commitCalls.length,
          lockCycle: skLog.lockCalls.join(", "),
          commit: skLog.commitCalls.join(", "),
        },
      },
      ...[
        { head: "current pointer", name: "pointer", r: held },
        { head: "stack log", name: "log", r: heldLog },
      ].map(({ head, name, r }) => ({
        metric: `commits/s under a held lock, one-entry commitChanges of 100 entries, ${head}`,
        unit: "commits/s",
        better: "higher" as const,
        statekeeper: { name: `statekeeper s3, lock held (${name})`, value: r.perSecond },
        baselines: [
          { name: "floor: one bare @aws-sdk/client-s3 create-only PUT per commit", value: createFloor },
        ],
        extra: { requestsPerCommit: r.requestsPerCommit, meanRevisionBytes: r.meanRevisionBytes },
      })),
      {
        metric: `stack log: finding the newest entry of ${logEntries} entries, ms (cold: hint + listing + entry; warm: listing + entry)`,
        unit: "ms",
        better: "lower",
        statekeeper: { name: "stack log head(), cold reader", value: logged.coldMs },
        baselines: [{ name: "GET of a pointer object", value: logged.pointerMs }],
      },
      {
        metric: `stack log: finding the newest entry of ${logEntries} entries, ms, warm reader (listing after the newest it saw + entry)`,
        unit: "ms",
        better: "lower",
        statekeeper: { name: "stack log head(), warm reader", value: logged.warmMs },
        baselines: [{ name: "GET of a pointer object", value: logged.pointerMs }],
      },
      {
        metric: `stack log: listing the commits of ${logEntries} entries, ms (one listing + one read per 256 entries)`,
        unit: "ms",
        better: "lower",
        statekeeper: { name: "stack log commits()", value: logged.commitsMs },
        baselines: [{ name: "the bare listing of the same keys", value: logged.listingMs }],
      },
    ],
  };
}
