// One side of scenario 4 in a process of its own, so each side's peak memory is its own.
// Usage: node --import tsx bench/children/large-state.ts <statekeeper|floor> <dir> <entries>
// Prints one JSON line: per-phase ms, peak RSS and heap.
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { open, readFile, rename } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { keyEncrypter } from "../../src/crypto/index.js";
import { fileStore } from "../../src/objectstore/file.js";
import { decodeSnapshot, encodeSnapshot } from "../../src/snapshot/index.js";
import { benchKey, makeSnapshot } from "../lib/fixtures.js";

const [side, dir, entriesArg] = process.argv.slice(2);
if ((side !== "statekeeper" && side !== "floor") || dir === undefined)
  throw new Error("usage: large-state.ts <statekeeper|floor> <dir> <entries>");
const entries = Number(entriesArg ?? 15000);

const phases: Record<string, number> = {};
let peakHeap = 0;
const sampleHeap = () => {
  peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
};
async function phase<T>(name: string, fn: () => Promise<T> | T): Promise<T> {
  const start = performance.now();
  const out = await fn();
  phases[name] = performance.now() - start;
  sampleHeap();
  return out;
}

const snapshot = makeSnapshot("large", entries);
const rssBefore = process.memoryUsage().rss;
const key = benchKey();

if (side === "statekeeper") {
  const encrypter = keyEncrypter({ key });
  const store = fileStore(dir);
  const location = "bench/large/snapshots/r1";
  const plain = await phase("encode", () => encodeSnapshot(snapshot));
  const sealed = await phase("seal", () => encrypter.seal(plain, location));
  await phase("write", () => store.put("bench/large/snapshots/r1.json.enc", sealed, { ifNoneMatch: "*" }));
  const got = await phase("read", () => store.get("bench/large/snapshots/r1.json.enc"));
  const opened = await phase("open", () => encrypter.open(got?.body ?? new Uint8Array(), location));
  const decoded = await phase("decode", () => decodeSnapshot(opened));
  if (decoded.entries.length !== entries) throw new Error("round trip lost entries");
  phases.bytes = sealed.byteLength;
} else {
  const path = join(dir, "state.json.enc");
  const plain = await phase("encode", () => Buffer.from(JSON.stringify(snapshot)));
  const sealed = await phase("seal", () => {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", key, iv);
    const body = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return body;
  });
  await phase("write", async () => {
    const temp = `${path}.tmp`;
    const fh = await open(temp, "w");
    await fh.write(sealed);
    await fh.sync();
    await fh.close();
    await rename(temp, path);
  });
  const got = await phase("read", () => readFile(path));
  const opened = await phase("open", () => {
    const decipher = createDecipheriv("aes-256-gcm", key, got.subarray(0, 12));
    decipher.setAuthTag(got.subarray(got.length - 16));
    return Buffer.concat([decipher.update(got.subarray(12, got.length - 16)), decipher.final()]);
  });
  const decoded = await phase("decode", () => JSON.parse(opened.toString("utf8")) as { entries: unknown[] });
  if (decoded.entries.length !== entries) throw new Error("round trip lost entries");
  phases.bytes = sealed.byteLength;
}

process.stdout.write(
  `${JSON.stringify({
    phases,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    rssAfterBuildMb: rssBefore / 2 ** 20,
    peakHeapMb: peakHeap / 2 ** 20,
  })}\n`,
);
