// Runs the real Alchemy app (test/alchemy/fixtures/app.ts) in child processes, one phase each,
// and reads what it left in statekeeper or in Alchemy's FileSystemStateStore folder.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { entryToState } from "../../src/alchemy/entries.js";
import { createBackend } from "../../src/backend/backend.js";
import type { Backend } from "../../src/backend/index.js";
import { noopEncrypter } from "../../src/crypto/noop.js";
import type { Encrypter } from "../../src/crypto/types.js";
import { StateKeeperError } from "../../src/errors.js";
import { openStore } from "../../src/objectstore/schemes.js";
import type { JsonObject } from "../../src/snapshot/types.js";

export const ROOT = new URL("../..", import.meta.url).pathname;
export const APP = join(ROOT, "test", "alchemy", "fixtures", "app.ts");

export function tempDir(label: string): string {
  return mkdtempSync(join(tmpdir(), `statekeeper-alchemy-${label}-`));
}

export interface AppResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface AppRun {
  child: ChildProcess;
  /** Resolves when the app printed HOLDING (it holds the lock and waits). */
  holding: Promise<void>;
  done: Promise<AppResult>;
}

function appEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = { ...process.env, DO_NOT_TRACK: "1", ALCHEMY_TELEMETRY_DISABLED: "1" };
  // The app must not inherit a stage or CI switch from whoever runs the tests.
  for (const k of ["CI", "STAGE", "ALCHEMY_STAGE", "ALCHEMY_PASSWORD"]) delete base[k];
  return { ...base, ...env };
}

export function startApp(env: Record<string, string>): AppRun {
  const child = spawn(process.execPath, ["--import", "tsx", APP], {
    cwd: ROOT,
    env: appEnv(env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  let onHolding: () => void = () => {};
  const holding = new Promise<void>((resolve) => {
    onHolding = resolve;
  });
  child.stdout?.setEncoding("utf8").on("data", (d: string) => {
    stdout += d;
    if (stdout.includes("HOLDING\n")) onHolding();
  });
  child.stderr?.setEncoding("utf8").on("data", (d: string) => {
    stderr += d;
  });
  const done = new Promise<AppResult>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
  return { child, holding: Promise.race([holding, done.then(() => {})]), done };
}

export async function runApp(env: Record<string, string>): Promise<AppResult> {
  return startApp(env).done;
}

/** Runs the app and fails the test, with its stderr, unless it exits 0. */
export async function runAppOk(env: Record<string, string>, what: string): Promise<AppResult> {
  const r = await runApp(env);
  assert.equal(r.code, 0, `${what} failed:\n${r.stderr}\n${r.stdout}`);
  return r;
}

export async function stageBackend(
  store: string,
  stage = "test",
  encrypter: Encrypter = noopEncrypter(),
): Promise<Backend> {
  return createBackend(await openStore(store), { factory: "skapp", stack: stage, encrypter });
}

/** The stage's state in statekeeper: address → Alchemy's serialized state. */
export async function statekeeperState(backend: Backend): Promise<Map<string, JsonObject>> {
  try {
    const snap = await backend.current();
    return new Map(snap.entries.map((e) => [e.address, entryToState(e)]));
  } catch (e) {
    if (e instanceof StateKeeperError && e.code === "E_NO_CURRENT") return new Map();
    throw e;
  }
}

/** The stage's state in a FileSystemStateStore folder: key → serialized state (stage level). */
export function fsState(root: string, stage = "test"): Map<string, JsonObject> {
  const dir = join(root, "skapp", stage);
  const out = new Map<string, JsonObject>();
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir))
    if (name.endsWith(".json"))
      out.set(name.slice(0, -5).replaceAll(":", "/"), JSON.parse(readFileSync(join(dir, name), "utf8")));
  return out;
}

/** What must agree between two stores for one resource: its kind, status and props. */
export function comparable(states: Map<string, JsonObject>, outDir: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, s] of [...states].sort(([a], [b]) => (a < b ? -1 : 1)))
    out[k] = JSON.parse(
      JSON.stringify({ kind: s.kind, status: s.status, props: s.props }).replaceAll(outDir, "<out>"),
    );
  return out;
}
