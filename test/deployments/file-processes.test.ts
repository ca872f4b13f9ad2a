import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { openDeploymentStore } from "../../src/deployments/index.js";
import { fileStore } from "../../src/objectstore/file.js";
import { sampleInstance } from "../../src/testing/deployments-fixtures.js";
import { nodeFixture } from "../fixtures/node-fixture.js";

const root = mkdtempSync(join(tmpdir(), "statekeeper-deployments-procs-"));
after(() => rmSync(root, { recursive: true, force: true }));

interface Worker {
  ready: Promise<void>;
  output: Promise<string>;
}

function startWorker(fixture: string, args: string[]): Worker {
  const child = spawn(process.execPath, nodeFixture(`test/fixtures/deployments/${fixture}`, ...args), {
    cwd: process.cwd(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
    if (stdout.startsWith("ready\n")) markReady();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const output = new Promise<string>((resolve, reject) => {
    child.on("exit", (status) => {
      markReady();
      if (status === 0) resolve(stdout.replace(/^ready\n/, ""));
      else reject(new Error(`${fixture} exited with ${status}: ${stderr}`));
    });
  });
  return { ready, output };
}

/** Starts the workers, waits until each is ready, then lets them all go at once. */
async function runTogether(workers: Worker[], goFile: string): Promise<string[]> {
  await Promise.all(workers.map((w) => w.ready));
  writeFileSync(goFile, "go");
  return Promise.all(workers.map((w) => w.output));
}

test("10 processes claim one instance at the same version: exactly one wins", async () => {
  const prefix = "claims";
  const ds = await openDeploymentStore(fileStore(root), { prefix });
  await ds.instances.save(sampleInstance("shared", "Shared", { version: 4 }));
  const goFile = join(root, "go-claims");
  const outputs = await runTogether(
    Array.from({ length: 10 }, () => startWorker("claim.ts", [root, prefix, "shared", "4", goFile])),
    goFile,
  );
  const results = outputs.map(
    (o) => JSON.parse(o) as { won?: number; code?: string; storedVersion?: number },
  );
  assert.deepEqual(
    results.filter((r) => r.won !== undefined),
    [{ won: 5 }],
  );
  for (const r of results.filter((r) => r.won === undefined)) {
    assert.equal(r.code, "E_VERSION_CONFLICT");
    assert.equal(r.storedVersion, 5);
  }
  const fresh = await openDeploymentStore(fileStore(root), { prefix });
  assert.equal((await fresh.instances.get("shared"))?.version, 5);
});

test("two processes appending 500 events each to one channel lose none, ordered by id", async () => {
  const prefix = "events";
  const goFile = join(root, "go-events");
  await runTogether(
    ["a", "b"].map((writer) =>
      startWorker("append-events.ts", [root, prefix, "busy", "500", writer, goFile]),
    ),
    goFile,
  );
  const ds = await openDeploymentStore(fileStore(root), { prefix });
  const events = await ds.events.list("deployment", "busy");
  assert.equal(events.length, 1000);
  const ids = events.map((e) => e.id);
  assert.deepEqual([...ids].sort(), ids);
  assert.equal(new Set(ids).size, 1000);
  for (const writer of ["a", "b"]) {
    const mine = events.filter((e) => e.data.startsWith(`${writer}:`)).map((e) => Number(e.data.slice(2)));
    assert.deepEqual(
      mine,
      Array.from({ length: 500 }, (_, i) => i),
      `writer ${writer}'s events, in its own order`,
    );
  }
});
