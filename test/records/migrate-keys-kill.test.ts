// records migrate-keys killed with SIGKILL in the middle of a run, then run again: every record
// ends at its lossless key with what DigitalOcean's Spaces state store wrote, none lost or doubled.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileStore } from "../../src/objectstore/file.js";
import { migrateRecordKeys } from "../../src/records/migrate-keys.js";
import { createRecordStore } from "../../src/records/store.js";
import { nodeFixture } from "../fixtures/node-fixture.js";
import { type OriginalState, stateKey, writeOriginal } from "./spaces-original.js";

const root = mkdtempSync(join(tmpdir(), "statekeeper-migrate-kill-"));
after(() => rmSync(root, { recursive: true, force: true }));

/** Starts the slowed migration and kills it with SIGKILL once `afterMoves` records have moved. */
function killMidway(prefix: string, afterMoves: number): Promise<{ moves: number; signal: string | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      nodeFixture("test/fixtures/records/migrate-keys-slow.ts", root, prefix),
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let moves = 0;
    let err = "";
    child.stderr.on("data", (d) => {
      err += d;
    });
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      moves += d.split("moved\n").length - 1;
      if (moves >= afterMoves) child.kill("SIGKILL");
    });
    child.on("error", reject);
    child.on("exit", (code, signal) =>
      signal === "SIGKILL"
        ? resolve({ moves, signal })
        : reject(new Error(`exited ${code} before the kill: ${err}`)),
    );
  });
}

test("migrate-keys killed with SIGKILL midway resumes: every record moved once, verified, nothing lost", async () => {
  const store = fileStore(root);
  const prefix = "iac-state/";
  const originals: OriginalState[] = Array.from({ length: 40 }, (_, i) => ({
    resource_id: `team/svc-${String(i).padStart(2, "0")}`,
    provider: "digitalocean",
    status: i % 2 === 0 ? "active" : "drifted",
    outputs: { n: i },
    updated_at: "2025-01-01T00:00:00Z",
  }));
  await writeOriginal(store, prefix, originals);

  const killed = await killMidway(prefix, 5);
  assert.equal(killed.signal, "SIGKILL");
  const midway = await createRecordStore(store, { prefix }).list();
  assert.ok(
    midway.records.length >= 5 && midway.records.length < 40,
    `killed midway (${midway.records.length} moved)`,
  );

  const report = await migrateRecordKeys(store, { prefix });
  assert.equal(report.complete, true, JSON.stringify(report.skipped));
  assert.equal(report.moved.length + report.alreadyLossless, 40);
  const list = await createRecordStore(store, { prefix }).list();
  assert.deepEqual(list.unreadable, []);
  assert.deepEqual(
    list.records.map((r) => [r.state.resource_id, r.state.status, r.state.outputs, r.state.updated_at]),
    originals.map((o) => [o.resource_id, o.status, o.outputs, o.updated_at]),
  );
  for (const o of originals) assert.equal(await store.head(stateKey(prefix, o.resource_id)), undefined);
});
