import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import type { RecordStore } from "../../src/records/types.js";
import { nodeFixture } from "../fixtures/node-fixture.js";

export interface RaceOptions {
  /** Store URL the children open, or `s3:<prefix>` for `makeS3Store({ prefix })`. */
  target: string;
  processes: number;
  rounds: number;
}

interface Child {
  ready: Promise<void>;
  go(): void;
  done: Promise<{ conflicts: number }>;
}

function startChild(args: string[]): Child {
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  const child = spawn(process.execPath, nodeFixture("test/fixtures/records/increment.ts", ...args), {
    cwd: process.cwd(),
    stdio: ["pipe", "pipe", "pipe"],
  });
  const done = new Promise<{ conflicts: number }>((resolve, reject) => {
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => {
      out += d;
      if (out.startsWith("ready\n")) markReady();
    });
    child.stderr.on("data", (d) => {
      err += d;
    });
    child.on("error", reject);
    child.on("exit", (code) => {
      if (code === 0) resolve(JSON.parse(out.slice("ready\n".length).trim()) as { conflicts: number });
      else reject(new Error(`increment child exited ${code}: ${err}`));
    });
  });
  // A child that dies before it is ready must fail the test, not hang it.
  const readyOrDied = Promise.race([ready, done.then(() => {})]);
  return { ready: readyOrDied, go: () => child.stdin.end("go\n"), done };
}

/**
 * `processes` real processes each increment outputs.counter `rounds` times with ifMatch,
 * retrying on conflict: no update may be lost, so the counter ends at processes × rounds.
 */
export async function assertNoLostUpdates(records: RecordStore, opts: RaceOptions): Promise<void> {
  const id = "shared/counter";
  await records.save({ resource_id: id, status: "active", outputs: { counter: 0 } });
  const children = Array.from({ length: opts.processes }, () =>
    startChild([opts.target, records.prefix, id, String(opts.rounds)]),
  );
  await Promise.all(children.map((c) => c.ready));
  for (const c of children) c.go();
  const results = await Promise.all(children.map((c) => c.done));
  const final = await records.get(id);
  assert.equal(final?.state.outputs.counter, opts.processes * opts.rounds);
  const conflicts = results.reduce((n, r) => n + r.conflicts, 0);
  // Not a timing assertion: with this many writers on one record, some must have collided,
  // which shows the test exercised the conflict path rather than running the children one by one.
  assert.ok(conflicts > 0, "no writer ever conflicted: the race did not happen");
}
