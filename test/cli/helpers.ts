// Runs the real `statekeeper` binary (bin/statekeeper.js → dist/) in temp directories.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { pathToFileURL } from "node:url";
import { nodeFixture } from "../fixtures/node-fixture.js";

export const ROOT = new URL("../..", import.meta.url).pathname;
export const BIN = join(ROOT, "bin", "statekeeper.js");
export const EXAMPLES = join(ROOT, "examples");
export const V1 = join(EXAMPLES, "webshop-v1.json");
export const V2 = join(EXAMPLES, "webshop-v2.json");

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd: string;
  env?: Record<string, string>;
  input?: string | Uint8Array;
  /** Kill the process (SIGKILL) if it runs longer than this; its result then has code null. */
  timeoutMs?: number;
}

/**
 * The parent's environment without any STATEKEEPER_* setting, so tests see only what they pass,
 * and without the switch the test runner sets to quiet the AWS SDK: the CLI must keep its own
 * output clean, as users see it.
 */
function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if ((v !== undefined && !k.startsWith("STATEKEEPER_")) || k.startsWith("STATEKEEPER_TEST_"))
      env[k] = v ?? "";
  delete env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
  return env;
}

/**
 * Runs `command args` to its end and collects what it wrote. Its stdin gets `input` (or nothing),
 * then is closed; with `timeoutMs` it is killed (SIGKILL) past that time (its code is then null).
 * `env` replaces the environment (default: this process's).
 */
export function runCollected(
  command: string,
  args: readonly string[],
  opts: Partial<RunOptions> & { env?: NodeJS.ProcessEnv } = {},
): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: opts.cwd ?? ROOT,
      env: opts.env ?? process.env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    // A child that exits without reading its input must not fail the run.
    child.stdin.on("error", () => {});
    const timer =
      opts.timeoutMs === undefined ? undefined : setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.input ?? "");
  });
}

/** The real binary, in `opts.cwd`, with only the STATEKEEPER_* settings the test passes. */
export function sk(args: readonly string[], opts: RunOptions): Promise<Result> {
  return runCollected(process.execPath, [BIN, ...args], {
    ...opts,
    env: { ...baseEnv(), ...(opts.env ?? {}) },
  });
}

/** `sk` with the webshop/prod stack selected through the environment. */
export function stackEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { STATEKEEPER_FACTORY: "webshop", STATEKEEPER_STACK: "prod", ...extra };
}

/**
 * `stackEnv` for tests of what a stack with a current pointer promises (its objects edited behind
 * its back, revisions keeping their names across stores): new stacks get a pointer, not a log.
 */
export function pointerEnv(extra: Record<string, string> = {}): Record<string, string> {
  return stackEnv({ STATEKEEPER_HEAD: "pointer", ...extra });
}

export function tempDir(label = "cli"): string {
  return mkdtempSync(join(tmpdir(), `statekeeper-${label}-`));
}

/** Runs a TypeScript fixture under test/fixtures/cli (bundled: see ../fixtures/node-fixture.ts). */
export async function fixture(name: string, args: readonly string[]): Promise<string> {
  const r = await runCollected(
    process.execPath,
    nodeFixture(join(ROOT, "test", "fixtures", "cli", name), ...args),
  );
  if (r.code !== 0) throw new Error(`fixture ${name} failed: ${r.stderr}`);
  return r.stdout;
}

/** The file URL of `<dir>/.statekeeper`, the CLI's default store when run in `dir`. */
export const defaultStoreUrl = (dir: string): string => pathToFileURL(join(dir, ".statekeeper")).href;

export const newKey = (): string => randomBytes(32).toString("base64");

function newestMtime(dir: string): number {
  let newest = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const s = statSync(p);
    newest = Math.max(newest, s.isDirectory() ? newestMtime(p) : s.mtimeMs);
  }
  return newest;
}

/**
 * `npm test` builds before testing; a run of these files alone rebuilds dist/ when any
 * sources are newer than it. Test files run in parallel, so one builds while the others wait.
 */
export async function ensureBuilt(): Promise<void> {
  const main = join(ROOT, "dist", "cli", "main.js");
  const fresh = () => existsSync(main) && statSync(main).mtimeMs >= newestMtime(join(ROOT, "src"));
  if (fresh()) return;
  const lockDir = join(tmpdir(), "statekeeper-cli-test-build.lock");
  for (;;) {
    try {
      mkdirSync(lockDir);
      break;
    } catch {
      // A build lock left by a killed run is stale after two minutes.
      if (Date.now() - (statSync(lockDir, { throwIfNoEntry: false })?.mtimeMs ?? Date.now()) > 120_000)
        rmSync(lockDir, { recursive: true, force: true });
      await sleep(200);
      if (fresh()) return;
    }
  }
  try {
    if (!fresh()) spawnSync("npm", ["run", "build"], { cwd: ROOT, stdio: "ignore" });
  } finally {
    rmdirSync(lockDir);
  }
}
