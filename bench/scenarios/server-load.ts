// Scenario 9: `statekeeper serve` under load, side by side with the same updates written straight
// to the store with the library. The server runs as the real binary (1 and 3 child processes over
// one store), the clients replay what Terraform's http backend sends (test/server/tf-client.ts).
// Every run is checked for lost or duplicated revisions before its figures are reported.

import { execFileSync } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { type Backend, createBackend } from "../../src/backend/index.js";
import { keyEncrypter } from "../../src/crypto/index.js";
import type { Encrypter } from "../../src/crypto/types.js";
import { hasErrorCode } from "../../src/errors.js";
import { mapBounded } from "../../src/internal/bounded.js";
import { fileStore } from "../../src/objectstore/file.js";
import type { ObjectStore } from "../../src/objectstore/types.js";
import { createAuthenticator } from "../../src/server/auth.js";
import { createStateServer } from "../../src/server/server.js";
import {
  documentSnapshot,
  parseTerraformState,
  TERRAFORM_STATE_MEDIA_TYPE,
} from "../../src/snapshot/index.js";
import { recordingStore, type StoreCall } from "../../src/testing/store-decorators.js";
import { type RunningServer, startServer } from "../../test/server/support.js";
import { lockInfo, TfClient, type TfResponse, tfState } from "../../test/server/tf-client.js";
import { benchKey } from "../lib/fixtures.js";
import { log, percentile, perSecond, pick, type Row, round, type ScenarioResult } from "../lib/measure.js";
import { freshStore } from "../lib/s3.js";
import type { S3Server } from "../lib/server.js";

const FACTORY = "bench";
/** Resources per state: `tfState` writes ~8.4 kB of Terraform state format 4 for 20. */
const RESOURCES = 20;
/** A client that finds the state locked (423) waits this long, jittered, before its next LOCK. */
const LOCK_RETRY_MS = { min: 10, max: 50 };
/** How many revisions the correctness check opens at once. */
const CHECK_CONCURRENCY = 8;

type WorkloadKind = "distinct" | "contended";

interface Workload {
  kind: WorkloadKind;
  clients: number;
  /** distinct: updates each client sends inside its one lock; contended: successful cycles per client. */
  updates: number;
}

/** What one run of a workload measured, on either side. */
interface Outcome {
  wallMs: number;
  /** Acknowledged serials per stack, in the order they were acknowledged. */
  acked: Map<string, number[]>;
  /** Per update: the POST for the server, the commit (parse + documentSnapshot + commit) for the library. */
  updateMs: number[];
  /** Every HTTP request, by method (server side only). */
  requestMs: Map<string, number[]>;
  /** 423 answers to LOCK (server) or E_LOCKED refusals (library): retries in the contended workload. */
  lockRefusals: number;
  /** Server side: what the servers' access logs say about handling time, per method. */
  serverMs?: Map<string, number[]>;
  /** Server side: 5xx answers and unexpected-error lines the servers logged. */
  serverErrors?: number;
}

/** Lost or duplicated revisions, counted by opening every revision after a run. */
interface Check {
  states: number;
  expectedRevisions: number;
  revisions: number;
  /** Acknowledged serials that no revision holds. */
  lost: number;
  /** Revisions whose serial another revision of the same state already holds. */
  duplicated: number;
  /** Revisions that were never acknowledged (a landed write whose answer was lost would be one). */
  unacknowledged: number;
  /** States whose current serial is not the number of acknowledged updates. */
  finalSerialMismatches: number;
}

const problemsOf = (c: Check, serverErrors = 0) =>
  c.lost +
  c.duplicated +
  c.unacknowledged +
  c.finalSerialMismatches +
  Math.abs(c.revisions - c.expectedRevisions) +
  serverErrors;

/** A stack (state) name per workload and client. */
const stackOf = (w: Workload, client: number) => (w.kind === "distinct" ? `c${client}` : "contended");

const jitteredRetry = (signal: AbortSignal) =>
  sleep(LOCK_RETRY_MS.min + Math.random() * (LOCK_RETRY_MS.max - LOCK_RETRY_MS.min), undefined, {
    signal,
  }).catch(() => undefined);

/**
 * Runs `client(i)` for every client at once. The first failure aborts the others (a contender
 * that failed while holding the lock would otherwise leave them retrying forever) and is thrown
 * once every client has returned, so no request is still in flight when servers are stopped.
 */
async function runClients(
  count: number,
  client: (i: number, signal: AbortSignal) => Promise<void>,
): Promise<number> {
  const abort = new AbortController();
  const start = performance.now();
  const settled = await Promise.allSettled(
    Array.from({ length: count }, (_, i) =>
      client(i, abort.signal).catch((e: unknown) => {
        abort.abort();
        throw e;
      }),
    ),
  );
  const wallMs = performance.now() - start;
  const failed = settled.find((s) => s.status === "rejected");
  if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
  return wallMs;
}

/** `map.get(key)`, created with `make()` on first use. */
function entryOf<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    value = make();
    map.set(key, value);
  }
  return value;
}

const header = (text: string) => {
  const h = parseTerraformState(text);
  return { lineage: h.lineage, serial: h.serial };
};

// ---------------------------------------------------------------------------------------------
// The server side: Terraform's requests over HTTP.

async function viaServers(urls: readonly string[], token: string, w: Workload): Promise<Outcome> {
  const acked = new Map<string, number[]>();
  const updateMs: number[] = [];
  const requestMs = new Map<string, number[]>();
  let lockRefusals = 0;
  const lineages = new Map<string, string>();

  const send = async (method: string, fn: () => Promise<TfResponse>, ok: number[]) => {
    const t = performance.now();
    const res = await fn();
    const ms = performance.now() - t;
    entryOf(requestMs, method, (): number[] => []).push(ms);
    if (!ok.includes(res.status))
      throw new Error(
        `${method} answered ${res.status} (expected ${ok.join("/")}): ${res.text.slice(0, 400)}`,
      );
    return { res, ms };
  };

  /** POST one state; true once the server acknowledged a new revision. */
  const post = async (tf: TfClient, stack: string, lineage: string, serial: number) => {
    const body = tfState({ lineage, serial, resources: RESOURCES, tag: `u${serial}` });
    const { res, ms } = await send("POST", () => tf.put(body), [200]);
    const answer = JSON.parse(res.text) as { serial?: number; unchanged?: boolean };
    if (answer.unchanged === true || answer.serial !== serial)
      throw new Error(`POST of serial ${serial} to ${stack} was not stored as a new revision: ${res.text}`);
    updateMs.push(ms);
    entryOf(acked, stack, (): number[] => []).push(serial);
  };

  /** What the GET returned: the serial to build on, and the lineage (a fresh state gets one). */
  const read = async (tf: TfClient, stack: string) => {
    const { res } = await send("GET", () => tf.get(), [200, 204]);
    if (res.status === 200) return header(res.text);
    return { lineage: entryOf(lineages, stack, () => randomUUID()), serial: 0 };
  };

  const wallMs = await runClients(w.clients, async (i, signal) => {
    const stack = stackOf(w, i);
    const tf = new TfClient({
      address: `${urls[i % urls.length]}/tf/${FACTORY}/${stack}`,
      username: "terraform",
      password: token,
      who: `client${i}@bench`,
    });
    if (w.kind === "distinct") {
      // One `terraform apply`: one lock, a refresh, then the state persisted `updates` times.
      await send("LOCK", () => tf.lock(lockInfo("OperationTypeApply", `client${i}@bench`)), [200]);
      const at = await read(tf, stack);
      for (let u = 1; u <= w.updates && !signal.aborted; u++)
        await post(tf, stack, at.lineage, at.serial + u);
      await send("UNLOCK", () => tf.unlock(), [200]);
      return;
    }
    let done = 0;
    while (done < w.updates && !signal.aborted) {
      const { res } = await send(
        "LOCK",
        () => tf.lock(lockInfo("OperationTypeApply", `client${i}@bench`)),
        [200, 423],
      );
      if (res.status === 423) {
        lockRefusals++;
        await jitteredRetry(signal);
        continue;
      }
      try {
        const at = await read(tf, stack);
        await post(tf, stack, at.lineage, at.serial + 1);
      } finally {
        await send("UNLOCK", () => tf.unlock(), [200]);
      }
      done++;
    }
  });
  return { wallMs, acked, updateMs, requestMs, lockRefusals };
}

// ---------------------------------------------------------------------------------------------
// The library side: the same updates through createBackend, in this process.

async function viaLibrary(store: ObjectStore, encrypter: Encrypter, w: Workload): Promise<Outcome> {
  const acked = new Map<string, number[]>();
  const updateMs: number[] = [];
  let lockRefusals = 0;
  const lineages = new Map<string, string>();

  /** The lock as the server takes it for a client: no lease, no waiting, the client's LockInfo. */
  const take = (backend: Backend, i: number) => {
    const info = lockInfo("OperationTypeApply", `client${i}@bench`);
    return backend.lock({
      id: info.ID,
      leaseMs: null,
      wait: false,
      operation: info.Operation,
      holder: { user: `client${i}`, host: "bench", pid: 0 },
      info: { ...info },
    });
  };

  /** The equivalent of Terraform's GET: the current state's serial and lineage, if any. */
  const read = async (backend: Backend, stack: string) => {
    try {
      const text = (await backend.current()).document?.text;
      if (text === undefined) throw new Error(`${stack} holds no Terraform state`);
      return header(text);
    } catch (e) {
      if (!hasErrorCode(e, "E_NO_CURRENT")) throw e;
      return { lineage: entryOf(lineages, stack, () => randomUUID()), serial: 0 };
    }
  };

  /** One update: what the server does with a POST body, minus its checks against the stored state. */
  const commit = async (backend: Backend, stack: string, lineage: string, serial: number) => {
    const text = tfState({ lineage, serial, resources: RESOURCES, tag: `u${serial}` });
    const t = performance.now();
    const h = parseTerraformState(text);
    const snapshot = documentSnapshot(
      { name: FACTORY, version: h.terraformVersion ?? "", contentRevision: "" },
      stack,
      { mediaType: TERRAFORM_STATE_MEDIA_TYPE, text },
    );
    await backend.commit(snapshot);
    updateMs.push(performance.now() - t);
    entryOf(acked, stack, (): number[] => []).push(serial);
  };

  const wallMs = await runClients(w.clients, async (i, signal) => {
    const stack = stackOf(w, i);
    const backend = createBackend(store, { factory: FACTORY, stack, encrypter });
    if (w.kind === "distinct") {
      const lock = await take(backend, i);
      try {
        const at = await read(backend, stack);
        for (let u = 1; u <= w.updates && !signal.aborted; u++)
          await commit(backend, stack, at.lineage, at.serial + u);
      } finally {
        await lock.unlock();
      }
      return;
    }
    let done = 0;
    while (done < w.updates && !signal.aborted) {
      let lock: Awaited<ReturnType<typeof take>>;
      try {
        lock = await take(backend, i);
      } catch (e) {
        if (!hasErrorCode(e, "E_LOCKED")) throw e;
        lockRefusals++;
        await jitteredRetry(signal);
        continue;
      }
      try {
        const at = await read(backend, stack);
        await commit(backend, stack, at.lineage, at.serial + 1);
      } finally {
        await lock.unlock();
      }
      done++;
    }
  });
  return { wallMs, acked, updateMs, requestMs: new Map(), lockRefusals };
}

// ---------------------------------------------------------------------------------------------
// The check: open every revision of every state the run wrote.

async function check(store: ObjectStore, encrypter: Encrypter, acked: Map<string, number[]>): Promise<Check> {
  const result: Check = {
    states: acked.size,
    expectedRevisions: 0,
    revisions: 0,
    lost: 0,
    duplicated: 0,
    unacknowledged: 0,
    finalSerialMismatches: 0,
  };
  for (const [stack, serials] of acked) {
    const backend = createBackend(store, { factory: FACTORY, stack, encrypter });
    const history = await backend.history();
    const found = await mapBounded(history.revisions, CHECK_CONCURRENCY, async (r) => {
      const text = (await backend.get(r.rev)).document?.text;
      if (text === undefined) throw new Error(`${stack}: revision ${r.rev} holds no Terraform state`);
      return header(text).serial;
    });
    const distinct = new Set(found);
    const ackedSet = new Set(serials);
    result.expectedRevisions += serials.length;
    result.revisions += found.length;
    result.duplicated += found.length - distinct.size;
    result.lost += serials.filter((s) => !distinct.has(s)).length;
    result.unacknowledged += [...distinct].filter((s) => !ackedSet.has(s)).length;
    const current = (await backend.current()).document?.text;
    if (current === undefined || header(current).serial !== serials.length) result.finalSerialMismatches++;
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Stores and servers.

/** Clock ticks per second of /proc/<pid>/stat's CPU times. */
const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU time (user + system) the processes used so far, in ms; undefined where /proc is missing. */
function cpuMsOf(pids: readonly number[]): number | undefined {
  let ticks = 0;
  for (const pid of pids) {
    try {
      // After the command name in parentheses: state is field 3, utime 14, stime 15.
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      return undefined;
    }
  }
  return (ticks * 1000) / CLOCK_TICKS;
}

const cpuMsSince = (start: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
};

/**
 * `count` servers (the real binary, test/server/support.ts) over one store, each warmed up with
 * `warmUp`, for the length of `fn`; always stopped, also when `fn` or one of the starts fails. Returns what their access
 * logs say once they have exited (handling ms per method; 5xx answers, logged failures and
 * unclean exits as errors) and the CPU time they used while `fn` ran.
 */
async function withServers<T>(
  count: number,
  storeUrl: string,
  env: Record<string, string>,
  warmUp: (url: string, index: number) => Promise<void>,
  fn: (urls: string[]) => Promise<T>,
): Promise<{ value: T; serverMs: Map<string, number[]>; serverErrors: number; cpuMs: number | undefined }> {
  const cwd = await mkdtemp(join(tmpdir(), "statekeeper-bench-serve-"));
  const started = await Promise.allSettled(
    Array.from({ length: count }, () => startServer({ store: storeUrl, env, cwd })),
  );
  const running = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  // A bench killed outright must not leave servers behind.
  const killAll = () => {
    for (const s of running) s.child.kill("SIGKILL");
  };
  process.on("exit", killAll);
  let value: T;
  let cpuMs: number | undefined;
  let unclean = 0;
  try {
    const failed = started.find((s) => s.status === "rejected");
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
    // Untimed: each server probes its store and loads its driver on the first lock, once.
    await Promise.all(running.map((s, i) => warmUp(s.url, i)));
    const pids = running.map((s) => s.pid);
    const cpuBefore = cpuMsOf(pids);
    value = await fn(running.map((s) => s.url));
    const cpuAfter = cpuMsOf(pids);
    cpuMs = cpuBefore === undefined || cpuAfter === undefined ? undefined : cpuAfter - cpuBefore;
  } finally {
    const codes = await Promise.all(running.map((s) => s.stop()));
    process.off("exit", killAll);
    await rm(cwd, { recursive: true, force: true });
    codes.forEach((code, i) => {
      if (code === 0) return;
      unclean++;
      log(`server ${i} exited with ${code}: ${running[i]?.stderr().slice(-2000)}`);
    });
  }
  // Read after exit: a request's log line is written after its answer, maybe after `fn` returned.
  const logged = accessLogOf(running);
  return { value, cpuMs, serverMs: logged.serverMs, serverErrors: logged.serverErrors + unclean };
}

function accessLogOf(servers: readonly RunningServer[]) {
  const serverMs = new Map<string, number[]>();
  let serverErrors = 0;
  for (const s of servers) {
    for (const line of s.accessLog()) {
      if (String(line.path).includes("/warm-up-")) continue;
      entryOf(serverMs, String(line.method), (): number[] => []).push(Number(line.ms));
      if (Number(line.status) >= 500) serverErrors++;
    }
    serverErrors += s
      .stderr()
      .split("\n")
      .filter((l) => /request \S+ failed/.test(l)).length;
  }
  return { serverMs, serverErrors };
}

// ---------------------------------------------------------------------------------------------
// Store requests per HTTP request, counted once in-process (the same code the binary runs).

const opName = (c: StoreCall) =>
  `${c.op}${c.opts?.ifNoneMatch ? "(create)" : c.opts?.ifMatch ? "(cas)" : ""} ${c.key
    .split("/")
    .slice(-1)[0]
    ?.replace(/^\d.*$/, "<rev>")}`;

async function storeRequestsPerRequest(encrypter: Encrypter): Promise<Record<string, string>> {
  const dir = await mkdtemp(join(tmpdir(), "statekeeper-bench-requests-"));
  const token = `bench-${randomBytes(16).toString("hex")}`;
  const recorded = recordingStore(fileStore(dir));
  const server = createStateServer({
    store: recorded.store,
    encrypter,
    auth: createAuthenticator({ adminToken: token }),
  });
  try {
    const { port } = await server.listen("127.0.0.1", 0);
    const address = `http://127.0.0.1:${port}/tf/${FACTORY}/counted`;
    const tf = new TfClient({ address, username: "terraform", password: token });
    const other = new TfClient({ address, username: "terraform", password: token });
    const lineage = randomUUID();
    const counted: Record<string, string> = {};
    const count = async (label: string, fn: () => Promise<TfResponse>) => {
      recorded.calls.length = 0;
      await fn();
      counted[label] = `${recorded.calls.length}: ${recorded.calls.map(opName).join(", ")}`;
    };
    // The probe runs once per store object: take it out of the counts.
    await tf.lock(lockInfo("OperationTypeApply"));
    await tf.put(tfState({ lineage, serial: 1, resources: RESOURCES }));
    await tf.unlock();
    await count("LOCK", () => tf.lock(lockInfo("OperationTypeApply")));
    await count("GET", () => tf.get());
    await count("POST", () => tf.put(tfState({ lineage, serial: 2, resources: RESOURCES })));
    await count("LOCK refused (423)", () => other.lock(lockInfo("OperationTypeApply", "bob@ci")));
    await count("UNLOCK", () => tf.unlock());

    const backend = createBackend(recorded.store, { factory: FACTORY, stack: "counted", encrypter });
    recorded.calls.length = 0;
    const lock = await backend.lock({ leaseMs: null, wait: false });
    const lockCalls = recorded.calls.length;
    await backend.current();
    const readCalls = recorded.calls.length - lockCalls;
    const text = tfState({ lineage, serial: 3, resources: RESOURCES });
    await backend.commit(
      documentSnapshot({ name: FACTORY, version: "1.9.5", contentRevision: "" }, "counted", {
        mediaType: TERRAFORM_STATE_MEDIA_TYPE,
        text,
      }),
    );
    const commitCalls = recorded.calls.slice(lockCalls + readCalls);
    counted["library commit under a held lock"] =
      `${commitCalls.length}: ${commitCalls.map(opName).join(", ")}`;
    counted["library lock / current()"] = `${lockCalls} / ${readCalls}`;
    const rival = createBackend(recorded.store, { factory: FACTORY, stack: "counted", encrypter });
    recorded.calls.length = 0;
    await rival.lock({ leaseMs: null, wait: false }).then(
      () => {
        throw new Error("a second lock of a held stack was granted");
      },
      (e: unknown) => {
        if (!hasErrorCode(e, "E_LOCKED")) throw e;
      },
    );
    counted["library lock refused (E_LOCKED)"] =
      `${recorded.calls.length}: ${recorded.calls.map(opName).join(", ")}`;
    await lock.unlock();
    return counted;
  } finally {
    await server.close(1000);
    await rm(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------

const fmtMs = (v: number) => Number(v.toFixed(1));
const p = (values: readonly number[], q: number) => fmtMs(percentile(values, q));

function latencies(by: Map<string, number[]>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [method, values] of [...by].sort(([a], [b]) => a.localeCompare(b)))
    out[method] = `n=${values.length} p50=${p(values, 50)} p99=${p(values, 99)}`;
  return out;
}

function describeCheck(c: Check): string {
  return (
    `${c.revisions}/${c.expectedRevisions} revisions in ${c.states} state(s); lost ${c.lost}, ` +
    `duplicated ${c.duplicated}, unacknowledged ${c.unacknowledged}, final serial wrong ${c.finalSerialMismatches}`
  );
}

export async function serverLoadScenario(s3: S3Server): Promise<ScenarioResult> {
  const workloads: Workload[] = [
    { kind: "distinct", clients: pick(50, 5), updates: pick(20, 3) },
    { kind: "contended", clients: pick(8, 4), updates: pick(15, 3) },
  ];
  const serverCounts = [1, 3];
  const key = benchKey();
  const encrypter = keyEncrypter({ key });
  const token = `bench-${randomBytes(16).toString("hex")}`;
  const serverEnv = {
    STATEKEEPER_SERVER_TOKEN: token,
    STATEKEEPER_KEY: Buffer.from(key).toString("base64"),
  };
  const sample = tfState({ lineage: randomUUID(), serial: 1, resources: RESOURCES });
  log(
    `9 server load: ${workloads.map((w) => `${w.kind} ${w.clients}×${w.updates}`).join(", ")}; ` +
      `${serverCounts.join(" and ")} server process(es); file and s3; states of ${sample.length} bytes`,
  );

  const rows: Row[] = [];
  const checks: string[] = [];
  let problems = 0;
  const notes: string[] = [];

  for (const storeKind of ["file", "s3"] as const) {
    for (const w of workloads) {
      const label = `server-load-${storeKind}-${w.kind}`;
      // The library first, then each server count, each on a fresh store.
      const direct = await freshStore(storeKind, s3, `${label}-direct`);
      let libraryOutcome: Outcome;
      let libraryCpuMs: number;
      try {
        // Untimed, as for the servers: the store is probed once per store object, on the first lock.
        const warm = createBackend(direct.store, { factory: FACTORY, stack: "warm-up", encrypter });
        await (await warm.lock({ leaseMs: null })).unlock();
        const cpu = process.cpuUsage();
        libraryOutcome = await viaLibrary(direct.store, encrypter, w);
        libraryCpuMs = cpuMsSince(cpu);
        const c = await check(direct.store, encrypter, libraryOutcome.acked);
        problems += problemsOf(c);
        checks.push(`${storeKind} ${w.kind}, library: ${describeCheck(c)}`);
      } finally {
        await direct.cleanup();
      }
      const libUpdates = libraryOutcome.updateMs.length;
      const lib = {
        perSecond: perSecond(libUpdates, libraryOutcome.wallMs),
        p50: percentile(libraryOutcome.updateMs, 50),
        p99: percentile(libraryOutcome.updateMs, 99),
        cpuMsPerUpdate: libraryCpuMs / libUpdates,
        coresBusy: libraryCpuMs / libraryOutcome.wallMs,
      };
      log(
        `  ${storeKind} ${w.kind} library: ${lib.perSecond.toFixed(1)} updates/s, commit p50 ${lib.p50.toFixed(1)} ms, ` +
          `CPU/update ${lib.cpuMsPerUpdate.toFixed(1)} ms, ${libraryOutcome.lockRefusals} refused locks`,
      );

      for (const n of serverCounts) {
        const side = await freshStore(storeKind, s3, `${label}-${n}srv`);
        try {
          const warmUp = async (url: string, index: number) => {
            const tf = new TfClient({
              address: `${url}/tf/${FACTORY}/warm-up-${index}`,
              password: token,
              username: "tf",
            });
            for (const step of [() => tf.lock(lockInfo("OperationTypeApply")), () => tf.unlock()]) {
              const res = await step();
              if (res.status !== 200) throw new Error(`warm-up answered ${res.status}: ${res.text}`);
            }
          };
          const run = await withServers(n, side.url, { ...serverEnv, ...side.env }, warmUp, async (urls) => {
            const cpu = process.cpuUsage();
            const outcome = await viaServers(urls, token, w);
            return { outcome, clientCpuMs: cpuMsSince(cpu) };
          });
          const o: Outcome = {
            ...run.value.outcome,
            serverMs: run.serverMs,
            serverErrors: run.serverErrors,
          };
          const serverCpuMs = run.cpuMs ?? Number.NaN;
          const clientCpuMs = run.value.clientCpuMs;
          const c = await check(side.store, encrypter, o.acked);
          problems += problemsOf(c, run.serverErrors);
          checks.push(
            `${storeKind} ${w.kind}, ${n} server(s): ${describeCheck(c)}; server errors ${run.serverErrors}`,
          );
          const updates = o.updateMs.length;
          const all = [...o.requestMs.values()].flat();
          const where = `${storeKind}, ${w.kind} (${w.clients}×${w.updates}), ${n} server${n > 1 ? "s" : ""}`;
          const name = `statekeeper serve ×${n} (HTTP)`;
          const libName = "library, same process (createBackend)";
          const extra = {
            updates,
            requests: all.length,
            lockRefusals: o.lockRefusals,
            libraryLockRefusals: libraryOutcome.lockRefusals,
            allRequestsP50Ms: p(all, 50),
            allRequestsP99Ms: p(all, 99),
            // CPU: the server processes, this process as their HTTP client, this process as the library.
            serverCpuMsPerUpdate: round(serverCpuMs / updates),
            clientCpuMsPerUpdate: round(clientCpuMs / updates),
            libraryCpuMsPerUpdate: round(lib.cpuMsPerUpdate),
            coresBusyServersPlusClient: round((serverCpuMs + clientCpuMs) / o.wallMs),
            coresBusyLibrary: round(lib.coresBusy),
            clientMs: JSON.stringify(latencies(o.requestMs)),
            serverHandlingMs: JSON.stringify(latencies(o.serverMs ?? new Map())),
            check: describeCheck(c),
            serverErrors: run.serverErrors,
          };
          rows.push(
            {
              metric: `${where}: updates/s`,
              unit: "updates/s",
              better: "higher",
              statekeeper: { name, value: perSecond(updates, o.wallMs) },
              baselines: [{ name: libName, value: lib.perSecond }],
              extra,
            },
            {
              metric: `${where}: p50 ms per update (POST / commit)`,
              unit: "ms",
              better: "lower",
              statekeeper: { name, value: percentile(o.updateMs, 50) },
              baselines: [{ name: libName, value: lib.p50 }],
            },
            {
              metric: `${where}: p99 ms per update (POST / commit)`,
              unit: "ms",
              better: "lower",
              statekeeper: { name, value: percentile(o.updateMs, 99) },
              baselines: [{ name: libName, value: lib.p99 }],
            },
            {
              metric: `${where}: CPU ms per update (server processes / library process)`,
              unit: "ms",
              better: "lower",
              statekeeper: { name, value: serverCpuMs / updates },
              baselines: [{ name: libName, value: lib.cpuMsPerUpdate }],
            },
          );
          log(
            `  ${storeKind} ${w.kind} ${n} server(s): ${perSecond(updates, o.wallMs).toFixed(1)} updates/s, ` +
              `POST p50 ${percentile(o.updateMs, 50).toFixed(1)} ms, ${o.lockRefusals} refused LOCKs, ` +
              `CPU/update ${(serverCpuMs / updates).toFixed(1)} ms in servers + ${(clientCpuMs / updates).toFixed(1)} ms in clients`,
          );
        } finally {
          await side.cleanup();
        }
      }
    }
  }

  const perRequest = await storeRequestsPerRequest(encrypter);
  notes.push(
    "store requests per HTTP request (in-process server over a recording file store): " +
      JSON.stringify(perRequest),
    ...checks,
  );
  for (const line of checks) log(`  check: ${line}`);
  if (problems !== 0)
    throw new Error(
      `9-server-load: ${problems} lost, duplicated or unexpected revisions or server errors:\n${checks.join("\n")}`,
    );
  return {
    id: "9-server-load",
    title:
      `statekeeper serve under load (Terraform http backend requests, key encrypter, states of ${sample.length} bytes), ` +
      "against the same updates through the library",
    rows,
    notes,
  };
}
