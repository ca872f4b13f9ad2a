import { execFile, spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";

const run = promisify(execFile);
const script = join(import.meta.dirname, "..", "..", "scripts", "s3-server.sh");

/** The bench's RGW: the project's gateway as scripts/s3-server.sh configures it, plus a twin. */
export interface S3Server {
  dir: string;
  /** The gateway exactly as scripts/s3-server.sh starts it. */
  endpoint: string;
  /**
   * Two more radosgw on the same cluster, user and bucket, whose only difference is beast's
   * `tcp_nodelay` (scenario 7's A/B): stock beast (RGW's default, no TCP_NODELAY) and
   * `tcp_nodelay=1`. Explicit, so the comparison holds whatever the script's config says.
   */
  stockEndpoint: string;
  nodelayEndpoint: string;
  bucket: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const address = s.address();
      s.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0));
    });
  });
}

async function waitForHttp(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await fetch(url);
      return;
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`no answer from ${url} after ${timeoutMs} ms`, { cause: e });
      await sleep(200);
    }
  }
}

/** One more radosgw on the script's cluster: same config file, only the frontend overridden. */
async function startTwin(dir: string, name: string, beastOptions: string): Promise<string> {
  const port = await freePort();
  await run("radosgw", [
    "-c",
    join(dir, "ceph.conf"),
    "-n",
    "client.rgw",
    `--rgw-frontends=beast endpoint=127.0.0.1:${port}${beastOptions}`,
    // Under run/*.pid so `s3-server.sh stop` kills it with the rest.
    `--pid-file=${join(dir, "run", `rgw-${name}.pid`)}`,
    `--admin-socket=${join(dir, "run", `rgw-${name}.asok`)}`,
    `--log-file=${join(dir, "log", `rgw-${name}.log`)}`,
  ]);
  const endpoint = `http://127.0.0.1:${port}`;
  await waitForHttp(endpoint, 60_000);
  return endpoint;
}

export async function startS3Server(): Promise<S3Server> {
  const dir = join(await mkdtemp(join(tmpdir(), "statekeeper-bench-")), "s3");
  const child = spawn("bash", [script, "start", dir], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (c: Buffer) => {
    out += c.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  if (code !== 0) throw new Error(`scripts/s3-server.sh start failed (exit ${code})`);
  const env: Record<string, string> = {};
  for (const line of (out || (await readFile(join(dir, "env"), "utf8"))).split("\n")) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) env[m[1] as string] = m[2] as string;
  }
  const need = (k: string) => {
    const v = env[k];
    if (v === undefined) throw new Error(`scripts/s3-server.sh printed no ${k}`);
    return v;
  };
  return {
    dir,
    endpoint: need("STATEKEEPER_TEST_S3_ENDPOINT"),
    stockEndpoint: await startTwin(dir, "stock", ""),
    nodelayEndpoint: await startTwin(dir, "nodelay", " tcp_nodelay=1"),
    bucket: need("STATEKEEPER_TEST_S3_BUCKET"),
    region: need("STATEKEEPER_TEST_S3_REGION"),
    credentials: { accessKeyId: need("AWS_ACCESS_KEY_ID"), secretAccessKey: need("AWS_SECRET_ACCESS_KEY") },
  };
}

export async function stopS3Server(dir: string): Promise<void> {
  await run("bash", [script, "stop", dir]).catch((e: unknown) => {
    process.stderr.write(`bench: stopping the S3 server failed: ${String(e)}\n`);
  });
  // The script removes its own folder; the mkdtemp parent around it is ours.
  await rm(dirname(dir), { recursive: true, force: true });
}
