import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { lstatSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { TEMP_DIR_NAME } from "../../src/objectstore/file/temps.js";
import { fileStore } from "../../src/objectstore/file.js";
import { isStoreError } from "../../src/objectstore/types.js";
import { nodeFixture } from "../fixtures/node-fixture.js";

const base = mkdtempSync(join(tmpdir(), "statekeeper-file-procs-"));
after(() => rmSync(base, { recursive: true, force: true }));
let counter = 0;
const freshRoot = () => join(base, `root-${++counter}`);
const decode = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));

interface Worker {
  child: ChildProcess;
  /** Resolves with the first line equal to `line`. */
  waitFor(line: string): Promise<void>;
  /** Resolves with the last JSON line printed once the process exits with status 0. */
  result<T>(): Promise<T>;
  exited: Promise<void>;
}

function startWorker(args: string[], env: Record<string, string> = {}): Worker {
  const child = spawn(process.execPath, nodeFixture("test/fixtures/objectstore/file-worker.ts", ...args), {
    cwd: process.cwd(),
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const waiters: { line: string; resolve: () => void }[] = [];
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
    lines.push(line);
    for (const w of waiters.filter((w) => w.line === line)) w.resolve();
  });
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  const status = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  return {
    child,
    exited,
    waitFor: (line) =>
      lines.includes(line)
        ? Promise.resolve()
        : Promise.race([
            new Promise<void>((resolve) => waiters.push({ line, resolve })),
            status.then((code) => {
              throw new Error(`worker exited (${code}) before printing ${line}: ${stderr}`);
            }),
          ]),
    result: async <T>() => {
      const code = await status;
      assert.equal(code, 0, `worker ${args.join(" ")} failed: ${stderr}`);
      return JSON.parse(lines.at(-1) ?? "null") as T;
    },
  };
}

/** The temp files that processes `pids` left in the store's temp folder. */
function tempsOf(root: string, pids: readonly number[]): string[] {
  return readdirSync(join(root, TEMP_DIR_NAME)).filter((name) =>
    pids.includes(Number(/^\.[a-z]+\.(\d+)\.[0-9a-f]+\.tmp$/.exec(name)?.[1])),
  );
}

async function kill9(worker: Worker): Promise<void> {
  worker.child.kill("SIGKILL");
  await worker.exited;
}

function selfVerifyingVersion(size: number): Uint8Array {
  const payload = randomBytes(size);
  return new Uint8Array(
    Buffer.concat([Buffer.from(`${createHash("sha256").update(payload).digest("hex")}\n`), payload]),
  );
}

/** The object's first line is the sha256 of the rest (see the fixture's selfVerifyingVersion). */
function assertCompleteVersion(body: Uint8Array | undefined, size: number): void {
  assert.ok(body !== undefined, "the object exists");
  const buffer = Buffer.from(body);
  const newline = buffer.indexOf(0x0a);
  const payload = buffer.subarray(newline + 1);
  assert.equal(payload.length, size, "complete payload");
  assert.equal(buffer.subarray(0, newline).toString(), createHash("sha256").update(payload).digest("hex"));
}

describe("file store across processes", () => {
  test("8 processes × 50 compare-and-swap increments of one counter end at exactly 400", async () => {
    const root = freshRoot();
    const workers = Array.from({ length: 8 }, () => startWorker(["counter", root, "c/counter", "50"]));
    const results = await Promise.all(workers.map((w) => w.result<{ retries: number }>()));
    assert.equal(decode((await fileStore(root).get("c/counter"))?.body), "400");
    assert.ok(
      results.some((r) => r.retries > 0),
      "the workers really contended",
    );
  });

  test("8 processes racing create-only on 20 keys: one winner per key, matching the stored body", async () => {
    const root = freshRoot();
    const keys = Array.from({ length: 20 }, (_, i) => `race/key-${i}`);
    const workers = Array.from({ length: 8 }, (_, id) =>
      startWorker(["create", root, `worker-${id}`, ...keys]),
    );
    const results = await Promise.all(workers.map((w) => w.result<{ won: string[] }>()));
    const store = fileStore(root);
    for (const key of keys) {
      const winners = results.flatMap((r, id) => (r.won.includes(key) ? [id] : []));
      assert.equal(winners.length, 1, `exactly one winner for ${key}`);
      assert.equal(decode((await store.get(key))?.body), `worker-${winners[0]}`);
    }
  });

  test("kill -9 during 4 MiB plain and CAS writes, 30 times or more: always one complete version; dead temps cleaned", async () => {
    const root = freshRoot();
    const size = 4 * 1024 * 1024;
    const store = fileStore(root);
    await store.put("big/object", selfVerifyingVersion(size));
    const killedPids: number[] = [];
    let interruptedWrites = 0;
    // At least 30 kills; more (up to 90) until one landed mid-write, which a loaded machine can
    // take a while to hit: a kill that lands between writes proves nothing.
    const enough = () => killedPids.length >= 30 && (interruptedWrites > 0 || killedPids.length >= 90);
    const lane = async () => {
      while (!enough()) {
        const worker = startWorker(["churn", root, "big/object", String(size)]);
        await worker.waitFor("ready");
        await sleep(20 + Math.random() * 200);
        await kill9(worker);
        const pid = worker.child.pid as number;
        killedPids.push(pid);
        const ofDeadPid = () => tempsOf(root, [pid]);
        if (ofDeadPid().length > 0) {
          interruptedWrites++;
          // A subsequent write (here an unconditional one) removes the dead writer's leftovers.
          await store.put("big/object", selfVerifyingVersion(size));
          assert.deepEqual(ofDeadPid(), []);
        }
        const current = await store.get("big/object");
        if (current !== undefined) assertCompleteVersion(current.body, size);
      }
    };
    await Promise.all([lane(), lane(), lane()]);
    assert.ok(killedPids.length >= 30);
    assert.ok(interruptedWrites > 0, `some of ${killedPids.length} kills landed in the middle of a write`);

    // The next write of that key breaks any stale mutex; any write removes the dead writers' temps.
    const last = await store.get("big/object");
    assertCompleteVersion(last?.body, size);
    await store.put("big/object", selfVerifyingVersion(size), { ifMatch: last?.etag as string });
    assertCompleteVersion((await store.get("big/object"))?.body, size);
    assert.deepEqual(tempsOf(root, killedPids), []);
    assert.deepEqual(readdirSync(join(root, TEMP_DIR_NAME)), []);
    assert.deepEqual(readdirSync(join(root, "big")), ["object"], "temps are never made beside the object");
  });

  test("kill -9 while holding the CAS mutex: the mutex excluded others while alive, and they progress after", async () => {
    const root = freshRoot();
    const store = fileStore(root, { mutexTimeoutMs: 300 });
    await store.put("m/counter", new TextEncoder().encode("0"));
    const holder = startWorker(["counter", root, "m/counter", "1"], {
      STATEKEEPER_FIXTURE_PAUSE_IN_MUTEX: "1",
    });
    await holder.waitFor("holding");
    try {
      // The mutex is a symlink pointing at nothing: lstat, not exists (which follows it).
      assert.ok(lstatSync(join(root, "m", ".counter.mutex")).isSymbolicLink());
      await assert.rejects(store.put("m/counter", new TextEncoder().encode("9")), (e) =>
        isStoreError(e, "UNAVAILABLE"),
      );
    } finally {
      await kill9(holder);
    }

    // Several processes race to break the dead holder's mutex, then keep incrementing.
    const workers = Array.from({ length: 4 }, () => startWorker(["counter", root, "m/counter", "10"]));
    await Promise.all(workers.map((w) => w.result()));
    assert.equal(decode((await store.get("m/counter"))?.body), "40");
    assert.deepEqual(readdirSync(join(root, "m")), ["counter"]);
    assert.deepEqual(readdirSync(join(root, TEMP_DIR_NAME)), [], "no mutex temp or aside file left");
  });
});
