// Scenario 13 in processes of their own: `current()` of a large stack against the floor.
// Usage: node --import tsx bench/children/read-current.ts write <dir> <entries>
//          builds the snapshot once and stores it three ways in <dir>: a format-1 stack, a format-2
//          stack (file store, key encrypter) and the floor's single file (compact JSON, AES-256-GCM).
//        node --import tsx bench/children/read-current.ts read <1|2|floor> <dir> <entries> <reps>
//          reads it back <reps> times, each with a fresh backend (no chunk cache).
// Prints one JSON line: the wall-clock ms of each read, its CPU ms (user + system, every thread of
// the process: the measure that holds on a machine other work shares), and peak RSS (MB).
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { open, readFile, rename } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createBackend } from "../../src/backend/index.js";
import { keyEncrypter } from "../../src/crypto/index.js";
import { fileStore } from "../../src/objectstore/file.js";
import { makeSnapshot } from "../lib/fixtures.js";

const [mode, ...rest] = process.argv.slice(2);
const key = (dir: string) => createHash("sha256").update(`read-current-${dir}`).digest();
const backend = (dir: string, format: 1 | 2) =>
  createBackend(fileStore(join(dir, `format${format}`)), {
    factory: "bench",
    stack: "large",
    encrypter: keyEncrypter({ key: key(dir) }),
    format,
  });
const floorPath = (dir: string) => join(dir, "floor.json.enc");

if (mode === "write") {
  const [dir, entriesArg] = rest as [string, string];
  const snapshot = makeSnapshot("large", Number(entriesArg));
  for (const format of [1, 2] as const) {
    const b = backend(dir, format);
    const lock = await b.lock({ operation: "bench", leaseMs: 3_600_000 });
    await b.commit(snapshot);
    await lock.unlock();
  }
  // The floor: what a single-file local store would hold, compact JSON sealed with AES-256-GCM.
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key(dir), iv);
  const body = Buffer.concat([
    iv,
    cipher.update(JSON.stringify(snapshot)),
    cipher.final(),
    cipher.getAuthTag(),
  ]);
  const fh = await open(`${floorPath(dir)}.tmp`, "w");
  await fh.write(body);
  await fh.sync();
  await fh.close();
  await rename(`${floorPath(dir)}.tmp`, floorPath(dir));
  process.stdout.write(`${JSON.stringify({ bytes: body.length })}\n`);
} else if (mode === "read") {
  const [side, dir, entriesArg, repsArg] = rest as [string, string, string, string];
  const entries = Number(entriesArg);
  const reads: number[] = [];
  const cpu: number[] = [];
  for (let r = 0; r < Number(repsArg); r++) {
    const start = performance.now();
    const startCpu = process.cpuUsage();
    let count: number;
    if (side === "floor") {
      const got = await readFile(floorPath(dir));
      const decipher = createDecipheriv("aes-256-gcm", key(dir), got.subarray(0, 12));
      decipher.setAuthTag(got.subarray(got.length - 16));
      // One update, no concatenation: GCM's final() authenticates and adds no bytes.
      const plain = decipher.update(got.subarray(12, got.length - 16));
      decipher.final();
      count = (JSON.parse(plain.toString("utf8")) as { entries: unknown[] }).entries.length;
    } else count = (await backend(dir, side === "1" ? 1 : 2).current()).entries.length;
    reads.push(performance.now() - start);
    const used = process.cpuUsage(startCpu);
    cpu.push((used.user + used.system) / 1000);
    if (count !== entries) throw new Error(`read ${count} entries, not ${entries}`);
  }
  process.stdout.write(
    `${JSON.stringify({ reads, cpu, peakRssMb: process.resourceUsage().maxRSS / 1024 })}\n`,
  );
} else
  throw new Error("usage: read-current.ts write <dir> <entries> | read <1|2|floor> <dir> <entries> <reps>");
