// Scenario 11: the web view of `statekeeper serve` (/ui/) on a large store (issue 15): the stacks
// page over 1 000 stacks and the diff page of two 15 000-entry revisions, fetched over HTTP from the
// real binary with the API's Bearer token, side by side with what a user would otherwise run: the
// CLI's `stacks --json` and `diff REV_A REV_B --json` on the same store, spawned and timed end to end.
// File store, key encrypter. Reported, not asserted.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { createBackend } from "../../src/backend/index.js";
import { keyEncrypter } from "../../src/crypto/index.js";
import type { Encrypter } from "../../src/crypto/types.js";
import { mapBounded } from "../../src/internal/bounded.js";
import { fileStore } from "../../src/objectstore/file.js";
import type { ObjectStore } from "../../src/objectstore/types.js";
import { BIN } from "../../test/cli/helpers.js";
import { startServer } from "../../test/server/support.js";
import { withTempDir } from "../lib/dirs.js";
import { benchKey, makeEntry, makeSnapshot } from "../lib/fixtures.js";
import { log, median, pick, type Row, type ScenarioResult } from "../lib/measure.js";
import { freshStore } from "../lib/s3.js";
import type { S3Server } from "../lib/server.js";

const run = promisify(execFile);
const FACTORY = "bench";
const BIG = "big";
const BIG2 = "big-format2";
/** Stacks written with the library for the stacks page, each a small snapshot. */
const STACKS = pick(1000, 100);
/** Of those, how many hold a lock (every LOCKED_EVERY-th). */
const LOCKED_EVERY = 100;
const SMALL_ENTRIES = 5;
/** The big stack: two revisions of this many entries… */
const ENTRIES = pick(15000, 3000);
/** …that differ in this many changed entries, plus REPLACED removed and as many added. */
const CHANGED = pick(300, 60);
const REPLACED = pick(20, 5);
/** Warm requests (and CLI runs) per measurement; the median is reported. */
const WARM = pick(5, 3);
const WRITE_CONCURRENCY = 8;

/** The environment of a spawned statekeeper: no STATEKEEPER_* from the caller, plus `extra`. */
function childEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !k.startsWith("STATEKEEPER_")) env[k] = v;
  return { ...env, ...extra };
}

export async function webViewScenario(s3: S3Server): Promise<ScenarioResult> {
  log(
    `11 web view: ${STACKS} stacks of ${SMALL_ENTRIES} entries (${Math.floor(STACKS / LOCKED_EVERY)} locked) ` +
      `+ one of two ${ENTRIES}-entry revisions (${CHANGED} changed, ${REPLACED} removed, ${REPLACED} added)`,
  );
  return withTempDir("web-view", async (dir) => {
    const key = benchKey();
    const store = fileStore(dir);
    const encrypter = keyEncrypter({ key });
    const keyEnv = { STATEKEEPER_KEY: Buffer.from(key).toString("base64") };
    const storeUrl = pathToFileURL(dir).href;

    // ---- the data, written with the library (untimed) ------------------------------------
    let t = performance.now();
    await writeSmallStacks(store, encrypter);
    log(`  ${STACKS} small stacks written in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    t = performance.now();
    // Two revisions in storage format 1 (what statekeeper wrote before format 2 became the
    // default: each revision whole), and the same two in format 2, whose diff reads only differing chunks.
    const big = createBackend(store, { factory: FACTORY, stack: BIG, encrypter, format: 1 });
    const big2 = createBackend(store, { factory: FACTORY, stack: BIG2, encrypter, format: 2 });
    const revs: string[] = [];
    const revs2: string[] = [];
    {
      const snapshot = makeSnapshot(BIG, ENTRIES);
      revs.push(await big.commit(snapshot));
      revs2.push(await big2.commit({ ...snapshot, stack: BIG2 }));
      // A few hundred entries change (a new consoleOutput, sensitive, and tags.generation);
      // some go and as many new ones come.
      for (let c = 0; c < CHANGED; c++) {
        const i = (c * 7919) % (ENTRIES - REPLACED);
        snapshot.entries[i] = makeEntry(i, 1);
      }
      snapshot.entries.splice(ENTRIES - REPLACED, REPLACED);
      for (let a = 0; a < REPLACED; a++) snapshot.entries.push(makeEntry(ENTRIES + a, 1));
      revs.push(await big.commit(snapshot));
      revs2.push(await big2.commit({ ...snapshot, stack: BIG2 }));
    }
    const [from, to] = revs as [string, string];
    const [from2, to2] = revs2 as [string, string];
    log(`  big stack (2 revisions) written in ${((performance.now() - t) / 1000).toFixed(1)} s`);

    // ---- the server: first view cold, then warm ------------------------------------------
    const token = `bench-${randomBytes(16).toString("hex")}`;
    const server = await startServer({
      store: storeUrl,
      env: { ...keyEnv, STATEKEEPER_SERVER_TOKEN: token },
      cwd: tmpdir(),
    });
    const stopOnExit = () => server.child.kill("SIGKILL");
    process.on("exit", stopOnExit);
    const get = async (path: string) => {
      const start = performance.now();
      const res = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
      const body = await res.text();
      const ms = performance.now() - start;
      if (res.status !== 200) throw new Error(`GET ${path} answered ${res.status}: ${body.slice(0, 400)}`);
      return { ms, bytes: Buffer.byteLength(body), body };
    };
    const diffPath = `/ui/stacks/${FACTORY}/${BIG}/diff?${new URLSearchParams({ from, to }).toString()}`;
    let stacksCold: Awaited<ReturnType<typeof get>>;
    let diffCold: Awaited<ReturnType<typeof get>>;
    let diff2Cold: Awaited<ReturnType<typeof get>>;
    const stacksWarm: number[] = [];
    const diffWarm: number[] = [];
    let serverMs: Array<Record<string, unknown>>;
    let stacksPending = 0;
    let stacksCounted = 0;
    let countRequests = 0;
    try {
      stacksCold = await get("/ui/");
      const shown = /<span id="shown">(\d+)<\/span>/.exec(stacksCold.body)?.[1];
      if (shown !== String(STACKS + 2))
        throw new Error(`the stacks page shows ${shown} stacks, not ${STACKS + 2}`);
      // Counts the page left pending, asked for as ui.js does (batches of 100, again while null).
      const countsStart = performance.now() - stacksCold.ms;
      let pending = [...stacksCold.body.matchAll(/data-f="([^"]*)" data-s="([^"]*)" data-r="([^"]*)"/g)].map(
        (m) => [m[1], m[2], m[3]] as string[],
      );
      stacksPending = pending.length;
      while (pending.length > 0) {
        const batches = [];
        for (let i = 0; i < pending.length; i += 100) batches.push(pending.slice(i, i + 100));
        const answers = await Promise.all(
          batches.map(async (batch) => {
            const q = new URLSearchParams();
            for (const [f, st, r] of batch) {
              q.append("f", f as string);
              q.append("s", st as string);
              q.append("r", r as string);
            }
            countRequests++;
            const { body } = await get(`/ui/counts?${q.toString()}`);
            const { counts } = JSON.parse(body) as { counts: unknown[] };
            return batch.filter((_, i) => counts[i] === null);
          }),
        );
        pending = answers.flat();
      }
      stacksCounted = performance.now() - countsStart;
      for (let i = 0; i < WARM; i++) stacksWarm.push((await get("/ui/")).ms);
      diffCold = await get(diffPath);
      const summary = /<p id="summary">(.*?)<\/p>/.exec(diffCold.body)?.[1]?.replace(/<[^>]+>/g, "");
      log(`  diff page: ${summary}`);
      if (!summary?.startsWith(`${REPLACED} added, ${REPLACED} removed, ${CHANGED} changed`))
        throw new Error(`unexpected diff summary: ${summary}`);
      for (let i = 0; i < WARM; i++) diffWarm.push((await get(diffPath)).ms);
      diff2Cold = await get(
        `/ui/stacks/${FACTORY}/${BIG2}/diff?${new URLSearchParams({ from: from2, to: to2 }).toString()}`,
      );
      const summary2 = /<p id="summary">(.*?)<\/p>/.exec(diff2Cold.body)?.[1]?.replace(/<[^>]+>/g, "");
      if (summary2 !== summary) throw new Error(`format-2 diff summary ${summary2} differs from ${summary}`);
      serverMs = await server.accessLogWhen((lines) => lines.length >= 2 * (WARM + 1) + 1 + countRequests);
    } finally {
      process.off("exit", stopOnExit);
      const code = await server.stop();
      if (code !== 0) log(`  server exited with ${code}: ${server.stderr().slice(-2000)}`);
    }
    const handling = (which: (path: string) => boolean) =>
      serverMs.filter((l) => which(String(l.path))).map((l) => Number(l.ms).toFixed(0));

    // ---- the CLI, spawned end to end --------------------------------------------------------
    const cli = async (args: string[]) => {
      const start = performance.now();
      const { stdout } = await run(process.execPath, [BIN, "--store", storeUrl, ...args], {
        cwd: tmpdir(),
        env: childEnv(keyEnv),
        maxBuffer: 1 << 30,
      });
      return { ms: performance.now() - start, bytes: Buffer.byteLength(stdout) };
    };
    const cliStacks: number[] = [];
    let cliStacksBytes = 0;
    for (let i = 0; i < WARM; i++) {
      const r = await cli(["stacks", "--json"]);
      cliStacks.push(r.ms);
      cliStacksBytes = r.bytes;
    }
    const cliDiff: number[] = [];
    let cliDiffBytes = 0;
    for (let i = 0; i < WARM; i++) {
      const r = await cli(["--factory", FACTORY, "--stack", BIG, "diff", from, to, "--json"]);
      cliDiff.push(r.ms);
      cliDiffBytes = r.bytes;
    }
    const cliDiff2 = await cli(["--factory", FACTORY, "--stack", BIG2, "diff", from2, to2, "--json"]);
    const bigBytes = (await big.history()).revisions.map((r) => r.size);

    const page = "statekeeper serve, GET over HTTP (Bearer)";
    const stacksCli = "CLI: statekeeper stacks --json (spawned)";
    const diffCli = "CLI: statekeeper diff A B --json (spawned)";
    const rows: Row[] = [
      {
        metric: `stacks page /ui/ (${STACKS + 1} stacks), first view (cold) ms`,
        unit: "ms",
        better: "lower",
        statekeeper: { name: page, value: stacksCold.ms },
        baselines: [{ name: stacksCli, value: median(cliStacks) }],
        extra: { pageBytes: stacksCold.bytes, cliJsonBytes: cliStacksBytes, countsPending: stacksPending },
      },
      {
        metric: `stacks page /ui/ (${STACKS + 1} stacks), first view until every entry count is filled in (as ui.js does) ms`,
        unit: "ms",
        better: "lower",
        statekeeper: { name: page, value: stacksCounted },
        baselines: [{ name: stacksCli, value: median(cliStacks) }],
        extra: { countRequests },
      },
      {
        metric: `stacks page /ui/ (${STACKS + 1} stacks), warm, median of ${WARM} ms`,
        unit: "ms",
        better: "lower",
        statekeeper: { name: page, value: median(stacksWarm) },
        baselines: [{ name: stacksCli, value: median(cliStacks) }],
        extra: {
          warmMs: stacksWarm.map((v) => v.toFixed(0)).join(" "),
          serverHandlingMs: handling((path) => path === "/ui/").join(" "),
          cliMs: cliStacks.map((v) => v.toFixed(0)).join(" "),
        },
      },
      {
        metric: `diff page, two ${ENTRIES}-entry revisions, first view (cold) ms`,
        unit: "ms",
        better: "lower",
        statekeeper: { name: page, value: diffCold.ms },
        baselines: [{ name: diffCli, value: median(cliDiff) }],
        extra: { pageBytes: diffCold.bytes, cliJsonBytes: cliDiffBytes, revisionBytes: bigBytes.join(" ") },
      },
      {
        metric: `diff page, two ${ENTRIES}-entry revisions, warm, median of ${WARM} ms`,
        unit: "ms",
        better: "lower",
        statekeeper: { name: page, value: median(diffWarm) },
        baselines: [{ name: diffCli, value: median(cliDiff) }],
        extra: {
          warmMs: diffWarm.map((v) => v.toFixed(0)).join(" "),
          serverHandlingMs: handling((path) => path.startsWith("/ui/stacks/")).join(" "),
          cliMs: cliDiff.map((v) => v.toFixed(0)).join(" "),
        },
      },
      {
        metric: "stacks page bytes (HTML) / CLI JSON bytes",
        unit: "bytes",
        better: "lower",
        statekeeper: { name: page, value: stacksCold.bytes },
        baselines: [{ name: stacksCli, value: cliStacksBytes }],
      },
      {
        metric: `diff page, the same two revisions in storage format 2, first view (cold) ms`,
        unit: "ms",
        better: "lower",
        statekeeper: { name: page, value: diff2Cold.ms },
        baselines: [
          { name: `${diffCli}, format 2`, value: cliDiff2.ms },
          { name: "diff page, format 1 (above)", value: diffCold.ms },
        ],
      },
      {
        metric: "diff page bytes (HTML) / CLI JSON bytes",
        unit: "bytes",
        better: "lower",
        statekeeper: { name: page, value: diffCold.bytes },
        baselines: [{ name: diffCli, value: cliDiffBytes }],
      },
    ];
    rows.push(...(await stacksPageOnS3(s3)));
    for (const r of rows)
      log(
        `  ${r.metric}: ${r.statekeeper.value.toFixed(0)} vs ${r.baselines.map((b) => b.value.toFixed(0)).join(", ")}`,
      );
    return {
      id: "11-web-view",
      title:
        `Web view on a large store (file store, key encrypter): /ui/ over ${STACKS + 1} stacks and the diff ` +
        `of two ${ENTRIES}-entry revisions, against the CLI on the same data; the stacks page on RGW too`,
      rows,
      notes: [
        "web-view: cold = the first request after the server started (the stacks page waits 250 ms for entry counts, which " +
          "need each current revision opened, shows the rest as pending and keeps counting; ui.js fills them in from " +
          "/ui/counts); the CLI's `stacks --json` opens no revision and prints no entry counts",
        "web-view: page ms is end to end in the client (request to last byte); serverHandlingMs is the server's access log",
      ],
    };
  });
}

/**
 * The stacks page over RGW: as many small stacks as above, written to the bench's bucket, and the
 * page served by the binary over the s3:// store, cold and warm, against the CLI's `stacks --json`
 * on the same URL. Each stack is found by folder listings and costs a GET of `current` and one of
 * `lock` (a HEAD instead of the GET once the pointer is cached).
 */
async function stacksPageOnS3(s3: S3Server): Promise<Row[]> {
  const side = await freshStore("s3", s3, "web-view");
  const key = benchKey();
  const encrypter = keyEncrypter({ key });
  const t = performance.now();
  await writeSmallStacks(side.store, encrypter);
  log(`  RGW: ${STACKS} small stacks written in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  const env = { ...side.env, STATEKEEPER_KEY: Buffer.from(key).toString("base64") };
  const token = `bench-${randomBytes(16).toString("hex")}`;
  const server = await startServer({
    store: side.url,
    env: { ...env, STATEKEEPER_SERVER_TOKEN: token },
    cwd: tmpdir(),
  });
  const stopOnExit = () => server.child.kill("SIGKILL");
  process.on("exit", stopOnExit);
  const page = async () => {
    const start = performance.now();
    const res = await fetch(`${server.url}/ui/`, { headers: { authorization: `Bearer ${token}` } });
    const body = await res.text();
    if (res.status !== 200) throw new Error(`GET /ui/ on RGW answered ${res.status}: ${body.slice(0, 400)}`);
    const shown = /<span id="shown">(\d+)<\/span>/.exec(body)?.[1];
    if (shown !== String(STACKS))
      throw new Error(`the stacks page on RGW shows ${shown} stacks, not ${STACKS}`);
    return performance.now() - start;
  };
  let cold: number;
  const warm: number[] = [];
  try {
    cold = await page();
    for (let i = 0; i < WARM; i++) warm.push(await page());
  } finally {
    process.off("exit", stopOnExit);
    await server.stop();
  }
  const cli: number[] = [];
  for (let i = 0; i < WARM; i++) {
    const start = performance.now();
    await run(process.execPath, [BIN, "--store", side.url, "stacks", "--json"], {
      cwd: tmpdir(),
      env: childEnv(env),
      maxBuffer: 1 << 28,
    });
    cli.push(performance.now() - start);
  }
  await side.cleanup();
  const name = "statekeeper serve on RGW, GET over HTTP (Bearer)";
  const baseline = { name: "CLI on RGW: statekeeper stacks --json (spawned)", value: median(cli) };
  return [
    {
      metric: `RGW: stacks page /ui/ (${STACKS} stacks), first view (cold) ms`,
      unit: "ms",
      better: "lower",
      statekeeper: { name, value: cold },
      baselines: [baseline],
    },
    {
      metric: `RGW: stacks page /ui/ (${STACKS} stacks), warm, median of ${WARM} ms`,
      unit: "ms",
      better: "lower",
      statekeeper: { name, value: median(warm) },
      baselines: [baseline],
      extra: {
        warmMs: warm.map((v) => v.toFixed(0)).join(" "),
        cliMs: cli.map((v) => v.toFixed(0)).join(" "),
      },
    },
  ];
}

/** The stacks page's data: STACKS small stacks of one snapshot each, every LOCKED_EVERY-th locked. */
async function writeSmallStacks(store: ObjectStore, encrypter: Encrypter): Promise<void> {
  await mapBounded(
    Array.from({ length: STACKS }, (_, i) => i),
    WRITE_CONCURRENCY,
    async (i) => {
      const stack = `s${String(i).padStart(4, "0")}`;
      const backend = createBackend(store, { factory: FACTORY, stack, encrypter });
      await backend.commit(makeSnapshot(stack, SMALL_ENTRIES, i));
      if (i % LOCKED_EVERY === 0) await backend.lock({ leaseMs: null, operation: "apply" });
    },
  );
}
