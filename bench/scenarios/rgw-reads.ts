import { randomBytes } from "node:crypto";
import { GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { makeSnapshot } from "../lib/fixtures.js";
import { log, percentile, pick, type Row, type ScenarioResult, samples } from "../lib/measure.js";
import { expectStatus, rawS3 } from "../lib/raw-s3.js";
import { benchPrefix, benchS3Store, endpointOf, type Gateway, sdkClient } from "../lib/s3.js";
import type { S3Server } from "../lib/server.js";
import { statekeeperS3Cycle } from "./s3-commit.js";

const SIZE = 1024;

async function sdkGets(server: S3Server, gateway: Gateway, key: string, n: number) {
  const client = sdkClient(server, gateway);
  try {
    const put = await samples(n, () =>
      client.send(new PutObjectCommand({ Bucket: server.bucket, Key: key, Body: randomBytes(SIZE) })),
    );
    const get = await samples(n, async () => {
      const out = await client.send(new GetObjectCommand({ Bucket: server.bucket, Key: key }));
      await out.Body?.transformToByteArray();
    });
    return { put, get };
  } finally {
    client.destroy();
  }
}

async function rawGets(server: S3Server, gateway: Gateway, key: string, n: number, keepAlive: boolean) {
  const raw = rawS3({
    endpoint: endpointOf(server, gateway),
    bucket: server.bucket,
    region: server.region,
    credentials: server.credentials,
    keepAlive,
  });
  try {
    const gaps: number[] = [];
    const get = await samples(n, async () => {
      gaps.push(expectStatus(await raw.request("GET", key), "GET", 200).headToEndMs);
    });
    return { get, gaps };
  } finally {
    raw.close();
  }
}

async function driverGets(server: S3Server, gateway: Gateway, n: number, keepAlive: boolean) {
  const client = keepAlive ? undefined : sdkClient(server, gateway, { keepAlive: false });
  const store = benchS3Store(server, gateway, "rgw-reads-driver", client === undefined ? {} : { client });
  await store.put("small", randomBytes(SIZE));
  const get = await samples(n, () => store.get("small"));
  client?.destroy();
  return get;
}

const p50 = (v: number[]) => percentile(v, 50);

export async function rgwReadsScenario(server: S3Server): Promise<ScenarioResult> {
  const n = pick(100, 15);
  const commits = pick(60, 8);
  log(`7 RGW read anomaly: ${n} GETs of ${SIZE} bytes per variant, ${commits} commits per gateway/client`);
  const key = `${benchPrefix("rgw-reads")}/small`;
  const sdkDefault = await sdkGets(server, "stock", key, n);
  const rawReuse = await rawGets(server, "stock", key, n, true);
  const rawFresh = await rawGets(server, "stock", key, n, false);
  const driverBefore = await driverGets(server, "stock", n, true);
  const driverNoReuse = await driverGets(server, "stock", n, false);
  const sdkNodelay = await sdkGets(server, "nodelay", key, n);
  const rawNodelay = await rawGets(server, "nodelay", key, n, true);
  const driverNodelay = await driverGets(server, "nodelay", n, true);

  const snapshot = makeSnapshot("s3", 100);
  const before = await statekeeperS3Cycle(
    benchS3Store(server, "stock", "rgw-commit-before"),
    commits,
    snapshot,
  );
  const noReuseClient = sdkClient(server, "stock", { keepAlive: false });
  const workaround = await statekeeperS3Cycle(
    benchS3Store(server, "stock", "rgw-commit-noreuse", { client: noReuseClient }),
    commits,
    snapshot,
  );
  noReuseClient.destroy();
  const fixed = await statekeeperS3Cycle(
    benchS3Store(server, "nodelay", "rgw-commit-fixed"),
    commits,
    snapshot,
  );

  const rows: Row[] = [
    {
      metric: `GET ${SIZE} B p50 ms, stock beast (RGW default: no TCP_NODELAY)`,
      unit: "ms",
      better: "lower",
      statekeeper: { name: "statekeeper driver get (SDK, keep-alive)", value: p50(driverBefore) },
      baselines: [
        { name: "bare SDK GetObject (keep-alive)", value: p50(sdkDefault.get) },
        { name: "raw SigV4 GET, reused connection", value: p50(rawReuse.get) },
        { name: "raw SigV4 GET, fresh connection", value: p50(rawFresh.get) },
        { name: "bare SDK PutObject (same gateway)", value: p50(sdkDefault.put) },
      ],
      extra: {
        rawReusedHeadToBodyEndP50Ms: p50(rawReuse.gaps),
        rawFreshHeadToBodyEndP50Ms: p50(rawFresh.gaps),
        driverP99Ms: percentile(driverBefore, 99),
      },
    },
    {
      metric: `GET ${SIZE} B p50 ms, client-side workaround: driver client without keep-alive`,
      unit: "ms",
      better: "lower",
      statekeeper: {
        name: "statekeeper driver get, client option keepAlive:false",
        value: p50(driverNoReuse),
      },
      baselines: [{ name: "raw SigV4 GET, fresh connection", value: p50(rawFresh.get) }],
    },
    {
      metric: `GET ${SIZE} B p50 ms, server-side fix: beast tcp_nodelay=1`,
      unit: "ms",
      better: "lower",
      statekeeper: { name: "statekeeper driver get (unchanged)", value: p50(driverNodelay) },
      baselines: [
        { name: "bare SDK GetObject", value: p50(sdkNodelay.get) },
        { name: "raw SigV4 GET, reused connection", value: p50(rawNodelay.get) },
      ],
      extra: { rawHeadToBodyEndP50Ms: p50(rawNodelay.gaps) },
    },
    {
      metric: "statekeeper S3 commits/s: before vs with each fix",
      unit: "commits/s",
      better: "higher",
      statekeeper: {
        name: "statekeeper, stock beast (before)",
        value: before.perSecond,
      },
      baselines: [
        {
          name: "statekeeper, client without keep-alive (driver client option)",
          value: workaround.perSecond,
        },
        { name: "statekeeper, gateway with tcp_nodelay=1", value: fixed.perSecond },
      ],
    },
  ];
  return {
    id: "7-rgw-reads",
    title:
      "The RGW read anomaly: small GETs, SDK vs raw signed HTTP, connection reuse, and RGW's tcp_nodelay",
    rows,
  };
}
