import { Scope } from "alchemy";
import { S3StateStore } from "alchemy/aws";
import { FileSystemStateStore } from "alchemy/state";
import { fileStore } from "../../src/objectstore/file.js";
import type { ObjectStore } from "../../src/objectstore/types.js";
import { createRecordStore } from "../../src/records/index.js";
import { withTempDir } from "../lib/dirs.js";
import { log, pick, type Row, rate, type ScenarioResult, timed } from "../lib/measure.js";
import { benchPrefix, benchS3Store } from "../lib/s3.js";
import type { S3Server } from "../lib/server.js";

/** A small resource (an IAM role or a bucket): what Alchemy keeps per resource, ~1 kB. */
function resourceProps(i: number) {
  return {
    name: `bench-bucket-${i}`,
    arn: `arn:aws:s3:::bench-bucket-${i}`,
    region: "eu-west-1",
    tags: { team: "platform", env: "prod", index: String(i) },
    policy: JSON.stringify({
      Version: "2012-10-17",
      Statement: [{ Effect: "Allow", Action: "s3:GetObject" }],
    }),
    createdAt: 1_700_000_000_000 + i,
    padding: "x".repeat(600),
  };
}

type AlchemyStore = {
  set(key: string, value: never): Promise<void>;
  all(): Promise<Record<string, unknown>>;
};

async function alchemySide(store: AlchemyStore, n: number) {
  const perSecond = await rate(n, (i) =>
    store.set(`r${i}`, {
      kind: "aws::Bucket",
      id: `r${i}`,
      fqn: `bench/r${i}`,
      seq: i,
      status: "created",
      data: {},
      props: resourceProps(i),
      output: resourceProps(i),
    } as never),
  );
  const load = await timed(() => store.all());
  if (Object.keys(load.value).length !== n)
    throw new Error(`alchemy loaded ${Object.keys(load.value).length}/${n}`);
  return { perSecond, loadMs: load.ms };
}

/**
 * "Save state for one resource" is what the records layer is for: one object per resource, a
 * save touches only that object. (A snapshot commit per resource rewrites the whole stack each
 * time; scenario 3 measures that.) Plain records, like Alchemy's plain JSON files.
 */
async function statekeeperSide(store: ObjectStore, n: number) {
  const records = createRecordStore(store);
  const perSecond = await rate(n, (i) =>
    records.save({
      resource_id: `r${i}`,
      resource_type: "aws::Bucket",
      provider: "aws",
      status: "active",
      config: resourceProps(i),
      outputs: resourceProps(i),
    }),
  );
  const load = await timed(() => records.list());
  if (load.value.records.length !== n) throw new Error(`records loaded ${load.value.records.length}/${n}`);
  return { perSecond, loadMs: load.ms };
}

function rowsFor(
  where: string,
  sk: { perSecond: number; loadMs: number },
  alc: { perSecond: number; loadMs: number },
  alcName: string,
): Row[] {
  return [
    {
      metric: `${where}: saves/s, one resource at a time`,
      unit: "saves/s",
      better: "higher",
      statekeeper: { name: `statekeeper records (${where})`, value: sk.perSecond },
      baselines: [{ name: alcName, value: alc.perSecond }],
    },
    {
      metric: `${where}: load all, ms`,
      unit: "ms",
      better: "lower",
      statekeeper: { name: `statekeeper records.list() (${where})`, value: sk.loadMs },
      baselines: [{ name: `${alcName} all()`, value: alc.loadMs }],
    },
  ];
}

export async function alchemyScenario(server: S3Server): Promise<ScenarioResult> {
  const n = pick(1000, 100);
  log(`5 alchemy: ${n} resources on file and S3`);
  const scope = new Scope({
    scopeName: "bench",
    parent: null,
    phase: "up",
    quiet: true,
    stage: "bench",
    noTrack: true,
  });
  const fileRows = await withTempDir("alchemy", async (dir) => {
    const alc = await alchemySide(new FileSystemStateStore(scope, { rootDir: `${dir}/alchemy` }), n);
    const sk = await statekeeperSide(fileStore(`${dir}/statekeeper`), n);
    return rowsFor("file", sk, alc, "alchemy FileSystemStateStore");
  });
  // Alchemy builds its own S3Client from the environment; point it at the same gateway.
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_S3: server.nodelayEndpoint,
    AWS_ACCESS_KEY_ID: server.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: server.credentials.secretAccessKey,
  });
  const alcS3 = await alchemySide(
    new S3StateStore(scope, {
      bucketName: server.bucket,
      region: server.region,
      prefix: `${benchPrefix("alchemy")}/`,
    }),
    n,
  );
  const skS3 = await statekeeperSide(benchS3Store(server, "nodelay", "alchemy-sk"), n);
  return {
    id: "5-alchemy",
    title: `Against Alchemy's state stores: save ${n} resources one by one, then load all`,
    rows: [...fileRows, ...rowsFor("s3", skS3, alcS3, "alchemy S3StateStore")],
  };
}
