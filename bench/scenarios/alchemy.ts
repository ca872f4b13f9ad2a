import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Scope } from "alchemy";
import { S3StateStore } from "alchemy/aws";
import { FileSystemStateStore } from "alchemy/state";
import { entryToState } from "../../src/alchemy/entries.js";
import { createBackend } from "../../src/backend/backend.js";
import { noopEncrypter } from "../../src/crypto/noop.js";
import { fileStore } from "../../src/objectstore/file.js";
import type { ObjectStore } from "../../src/objectstore/types.js";
import { createRecordStore } from "../../src/records/index.js";
import { runCollected } from "../../test/cli/helpers.js";
import { withTempDir } from "../lib/dirs.js";
import { log, percentile, pick, type Row, rate, type ScenarioResult, timed } from "../lib/measure.js";
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
  const deploy = await deployScenario(server);
  return {
    id: "5-alchemy",
    title: `Against Alchemy's state stores: save ${n} resources one by one, then load all; deploy a real app of ${deploy.resources} resources`,
    rows: [...fileRows, ...rowsFor("s3", skS3, alcS3, "alchemy S3StateStore"), ...deploy.rows],
    notes: deploy.notes,
  };
}

// ---- Deploying a real Alchemy app (test/alchemy/fixtures/app.ts) with each state store. ----

const APP = new URL("../../test/alchemy/fixtures/app.ts", import.meta.url).pathname;

interface AppRun {
  code: number | null;
  deployMs: number;
  stderr: string;
}

async function runApp(env: Record<string, string>): Promise<AppRun> {
  const { code, stdout, stderr } = await runCollected(process.execPath, ["--import", "tsx", APP], {
    env: { ...process.env, DO_NOT_TRACK: "1", ...env },
  });
  let deployMs = Number.NaN;
  try {
    deployMs = Number(JSON.parse(stdout.trim().split("\n").pop() ?? "").deployMs);
  } catch {
    // A failed deploy prints no result line; the caller reports code and stderr.
  }
  return { code, deployMs, stderr };
}

async function deployOk(env: Record<string, string>, what: string): Promise<number> {
  const r = await runApp(env);
  if (r.code !== 0 || !Number.isFinite(r.deployMs))
    throw new Error(`${what} failed (${r.code}):\n${r.stderr}`);
  return r.deployMs;
}

type StoreKind =
  | "statekeeper file"
  | "statekeeper s3"
  | "alchemy FileSystemStateStore"
  | "alchemy S3StateStore";

/** A first deploy (every resource created) and a second one with nothing changed, in ms each (median of `reps`). */
async function deployTimes(
  kind: StoreKind,
  dir: string,
  server: S3Server,
  files: number,
  reps: number,
): Promise<{ create: number; noChange: number }> {
  const create: number[] = [];
  const noChange: number[] = [];
  for (let rep = 0; rep < reps; rep++) {
    const out = join(dir, `${kind.replaceAll(" ", "-")}-${rep}`);
    const base: Record<string, string> = { OUT_DIR: out, APP_FILES: String(files) };
    if (kind === "alchemy FileSystemStateStore") Object.assign(base, { APP_STATE: "fs" });
    if (kind === "alchemy S3StateStore")
      Object.assign(base, {
        APP_STATE: "s3",
        S3_BUCKET: server.bucket,
        S3_REGION: server.region,
        S3_PREFIX: `${benchPrefix("alchemy-deploy")}/`,
        AWS_ENDPOINT_URL_S3: server.nodelayEndpoint,
        AWS_ACCESS_KEY_ID: server.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: server.credentials.secretAccessKey,
      });
    if (kind === "statekeeper s3") {
      const q = new URLSearchParams({
        region: server.region,
        endpoint: server.nodelayEndpoint,
        forcePathStyle: "true",
      });
      Object.assign(base, {
        SK_STORE: `s3://${server.bucket}/${benchPrefix("alchemy-deploy-sk")}?${q}`,
        AWS_ACCESS_KEY_ID: server.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: server.credentials.secretAccessKey,
      });
    }
    create.push(await deployOk(base, `${kind} deploy`));
    noChange.push(await deployOk(base, `${kind} redeploy`));
  }
  return { create: percentile(create, 50), noChange: percentile(noChange, 50) };
}

/**
 * Two deploys of one stage at once, each writing its own content into the same files: after both,
 * how many resources does the stored state describe differently from what is on disk (a state
 * file that cannot be parsed counts), how many runs failed, and with what error.
 */
interface Concurrent {
  mismatched: number;
  corrupt: number;
  failed: number;
  errors: string[];
}

async function concurrentDeploys(
  dir: string,
  files: number,
  kind: "fs" | "statekeeper",
  trial: number,
): Promise<Concurrent> {
  const out = join(dir, `concurrent-${kind}-${trial}`);
  const env = (tag: string) => ({
    OUT_DIR: out,
    APP_FILES: String(files),
    APP_TAG: tag,
    ...(kind === "fs" ? { APP_STATE: "fs" } : { LOCK_TIMEOUT_MS: "600000", POLL_MS: "100" }),
  });
  const runs = await Promise.all([runApp(env("A")), runApp(env("B"))]);
  const failedRuns = runs.filter((r) => r.code !== 0);
  const errors = failedRuns.map((r) =>
    (r.stderr.split("\n").find((l) => /^\w*Error\b/.test(l)) ?? "(no error line)")
      .replaceAll(out, "<out>")
      .slice(0, 140),
  );
  const states = new Map<string, { content?: string } | "corrupt">();
  if (kind === "fs") {
    const stage = join(out, ".alchemy", "skapp", "test");
    for (const f of readdirSync(stage))
      if (/^f\d+\.json$/.test(f)) {
        let props: { content?: string } | "corrupt";
        try {
          props = JSON.parse(readFileSync(join(stage, f), "utf8")).props ?? {};
        } catch {
          props = "corrupt";
        }
        states.set(f.slice(0, -5), props);
      }
  } else {
    const backend = createBackend(fileStore(join(out, ".statekeeper")), {
      factory: "skapp",
      stack: "test",
      encrypter: noopEncrypter(),
    });
    for (const e of (await backend.current()).entries)
      if (/^f\d+$/.test(e.address))
        states.set(e.address, (entryToState(e).props ?? {}) as { content?: string });
  }
  let mismatched = 0;
  let corrupt = 0;
  for (let i = 0; i < files; i++) {
    let disk: string | undefined;
    try {
      disk = readFileSync(join(out, "many", `f${i}.txt`), "utf8");
    } catch {
      disk = undefined;
    }
    const st = states.get(`f${i}`);
    if (st === "corrupt") corrupt++;
    else if (st?.content !== disk) mismatched++;
  }
  return { mismatched, corrupt, failed: failedRuns.length, errors };
}

async function concurrentTrials(
  dir: string,
  files: number,
  kind: "fs" | "statekeeper",
  trials: number,
): Promise<Concurrent> {
  const sum: Concurrent = { mismatched: 0, corrupt: 0, failed: 0, errors: [] };
  for (let t = 0; t < trials; t++) {
    const r = await concurrentDeploys(dir, files, kind, t);
    log(`5 alchemy: concurrent ${kind} trial ${t}: ${JSON.stringify(r)}`);
    sum.mismatched += r.mismatched;
    sum.corrupt += r.corrupt;
    sum.failed += r.failed;
    sum.errors.push(...r.errors);
  }
  return sum;
}

async function deployScenario(
  server: S3Server,
): Promise<{ resources: number; rows: Row[]; notes: string[] }> {
  const files = pick(200, 40);
  const reps = pick(3, 1);
  // The app has 5 resources of its own (folder, 2 files, a random string, the folder of the many files).
  const resources = files + 5;
  log(`5 alchemy: deploying an app of ${resources} resources with each state store (${reps}x)`);
  return withTempDir("alchemy-deploy", async (dir) => {
    const fsT = await deployTimes("alchemy FileSystemStateStore", dir, server, files, reps);
    const skT = await deployTimes("statekeeper file", dir, server, files, reps);
    const failures: string[] = [];
    const s3T = await deployTimes("alchemy S3StateStore", dir, server, files, reps).catch((e: Error) => {
      failures.push(`alchemy S3StateStore could not deploy: ${e.message.split("\n").slice(0, 1).join(" ")}`);
      return { create: Number.NaN, noChange: Number.NaN };
    });
    const sk3T = await deployTimes("statekeeper s3", dir, server, files, reps);
    log(`5 alchemy: two concurrent deploys of one stage on each file store`);
    const fsC = await concurrentTrials(dir, files, "fs", reps);
    const skC = await concurrentTrials(dir, files, "statekeeper", reps);
    const rows: Row[] = [];
    for (const [what, key] of [
      ["first deploy (all created)", "create"],
      ["redeploy, nothing changed", "noChange"],
    ] as const) {
      rows.push({
        metric: `file: ${what}, ${resources} resources, ms`,
        unit: "ms",
        better: "lower",
        statekeeper: { name: "statekeeperStateStore (file:)", value: skT[key] },
        baselines: [{ name: "alchemy FileSystemStateStore", value: fsT[key] }],
      });
      if (Number.isFinite(s3T[key]))
        rows.push({
          metric: `s3: ${what}, ${resources} resources, ms`,
          unit: "ms",
          better: "lower",
          statekeeper: { name: "statekeeperStateStore (s3://)", value: sk3T[key] },
          baselines: [{ name: "alchemy S3StateStore", value: s3T[key] }],
        });
    }
    rows.push({
      metric: `two concurrent deploys of one stage, ${reps}x: resources whose state is unreadable or disagrees with disk (of ${files * reps})`,
      unit: "resources",
      better: "lower",
      statekeeper: { name: "statekeeperStateStore (file:)", value: skC.mismatched + skC.corrupt },
      baselines: [{ name: "alchemy FileSystemStateStore", value: fsC.mismatched + fsC.corrupt }],
      extra: {
        "statekeeper failed runs": `${skC.failed} of ${2 * reps}`,
        "FileSystemStateStore failed runs": `${fsC.failed} of ${2 * reps}`,
        "FileSystemStateStore unparseable state files": fsC.corrupt,
      },
    });
    const notes = [
      `Deploy times are measured inside the app process, from alchemy() to the end of finalize() (Node start-up excluded), median of ${reps}.`,
      `Concurrent deploys (${reps} trials): deploy A writes "A i" and deploy B "B i" into the same ${files} files, started together. FileSystemStateStore: ${fsC.mismatched} resources whose stored props disagree with the file on disk, ${fsC.corrupt} unparseable state files, ${fsC.failed} of ${2 * reps} runs failed${fsC.errors.length ? ` (${[...new Set(fsC.errors)].join("; ")})` : ""}. statekeeper: ${skC.mismatched}, ${skC.corrupt}, ${skC.failed} failed (the second deploy waits for the lock and runs after the first).`,
    ];
    notes.push(...failures);
    for (const n of notes) log(`5 alchemy: ${n}`);
    return { resources, rows, notes };
  });
}
