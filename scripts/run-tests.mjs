#!/usr/bin/env node
// Runs every test file under test/ with node's own test runner (TypeScript through tsx).
// Usage: node scripts/run-tests.mjs [--no-s3] [file-or-substring ...]
//
// S3 suites run against a real server: unless --no-s3 is given or STATEKEEPER_TEST_S3_ENDPOINT
// is already set (an external endpoint with the caller's own credentials), a throwaway Ceph RGW
// is started once by scripts/s3-server.sh, its env is passed to the test processes, and it is
// stopped at the end, also on failure or Ctrl-C. If it cannot start, the run fails: S3 suites
// are never skipped silently. With --no-s3, test files whose name contains "s3" are left out.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const args = process.argv.slice(2);
const noS3 = args.includes("--no-s3");
const filters = args.filter((a) => !a.startsWith("--"));
const serverScript = join(root, "scripts", "s3-server.sh");

function collect(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (name !== "fixtures") out.push(...collect(p));
    } else if (name.endsWith(".test.ts")) out.push(relative(root, p));
  }
  return out;
}

const isS3File = (f) => basename(f).toLowerCase().includes("s3");

let files = collect(join(root, "test")).sort();
if (filters.length > 0) files = files.filter((f) => filters.some((x) => f.includes(x)));
if (noS3) {
  const excluded = files.filter(isS3File);
  files = files.filter((f) => !isS3File(f));
  console.log(`run-tests: --no-s3: leaving out ${excluded.length} S3 test file(s)`);
}
if (files.length === 0) {
  console.error("run-tests: no test files matched");
  process.exit(1);
}

/** Starts the local RGW; returns its directory and env, or exits the run with a failure. */
function startServer() {
  const dir = mkdtempSync(join(tmpdir(), "statekeeper-s3-"));
  console.log(`run-tests: starting a local S3 server (Ceph RGW) under ${dir} …`);
  const r = spawnSync("bash", [serverScript, "start", dir], {
    cwd: root,
    stdio: ["ignore", "pipe", "inherit"],
    encoding: "utf8",
  });
  if (r.status !== 0) {
    console.error(
      "run-tests: FAILED: the S3 test server could not start (see above). S3 suites are never skipped;\n" +
        "  fix the server, point STATEKEEPER_TEST_S3_ENDPOINT (+ AWS_* credentials, STATEKEEPER_TEST_S3_BUCKET)\n" +
        "  at another S3-compatible endpoint, or run without S3 suites: node scripts/run-tests.mjs --no-s3",
    );
    spawnSync("bash", [serverScript, "stop", dir], { stdio: "ignore" });
    process.exit(1);
  }
  const env = {};
  for (const line of r.stdout.split("\n")) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) env[m[1]] = m[2];
  }
  return { dir, env };
}

let server;
let stopped = false;
function stopServer() {
  if (server === undefined || stopped) return;
  stopped = true;
  spawnSync("bash", [serverScript, "stop", server.dir], { stdio: ["ignore", "ignore", "inherit"] });
}

const env = { ...process.env };
// The package supports Node >= 20; the AWS SDK's "will require Node 22" notice is for end
// users and only buries test output here.
env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
if (!noS3 && files.some(isS3File)) {
  if (process.env.STATEKEEPER_TEST_S3_ENDPOINT) {
    console.log(`run-tests: S3 suites use the external endpoint ${process.env.STATEKEEPER_TEST_S3_ENDPOINT}`);
  } else {
    server = startServer();
    Object.assign(env, server.env);
  }
}

const child = spawn(
  process.execPath,
  ["--import", "tsx", "--test", "--test-reporter=spec", "--test-concurrency=3", ...files],
  { cwd: root, stdio: "inherit", env },
);
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    child.kill(signal);
    stopServer();
    process.exit(130);
  });
}
child.on("exit", (code, signal) => {
  stopServer();
  process.exit(code ?? (signal ? 1 : 0));
});
