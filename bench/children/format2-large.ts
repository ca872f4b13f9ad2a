// Scenario 12 in processes of their own, so each peak RSS is its own.
// Usage: node --import tsx bench/children/format2-large.ts <write|read> <1|2> <dir> <entries>
//   write: builds the snapshot, then under one lock: commit it, then 20 one-entry commitChanges.
//   read:  a fresh process opens the stack's current state (every chunk fetched and checked).
// Prints one JSON line: per-phase ms and peak RSS (MB).
import { createHash } from "node:crypto";
import { performance } from "node:perf_hooks";
import { createBackend } from "../../src/backend/index.js";
import { keyEncrypter } from "../../src/crypto/index.js";
import { fileStore } from "../../src/objectstore/file.js";
import { makeEntry, makeSnapshot } from "../lib/fixtures.js";

const [mode, formatArg, dir, entriesArg] = process.argv.slice(2);
if ((mode !== "write" && mode !== "read") || dir === undefined)
  throw new Error("usage: format2-large.ts <write|read> <1|2> <dir> <entries>");
const format = formatArg === "1" ? 1 : 2;
const entries = Number(entriesArg ?? 50000);
const backend = createBackend(fileStore(dir), {
  factory: "bench",
  stack: "large",
  // The writing and the reading process use the same key.
  encrypter: keyEncrypter({ key: createHash("sha256").update(`format2-large-${dir}`).digest() }),
  format,
});
const phases: Record<string, number> = {};
async function phase<T>(name: string, fn: () => Promise<T> | T): Promise<T> {
  const start = performance.now();
  const out = await fn();
  phases[name] = performance.now() - start;
  return out;
}
if (mode === "write") {
  const snapshot = await phase("build", () => makeSnapshot("large", entries));
  const lock = await backend.lock({ operation: "bench", leaseMs: 3_600_000 });
  await phase("commit", () => backend.commit(snapshot));
  const changes = 20;
  await phase("changes", async () => {
    for (let a = 0; a < changes; a++) {
      const i = (a * 7919) % entries;
      if (format === 2) await backend.commitChanges({ upsert: [makeEntry(i, a + 1)] });
      else {
        snapshot.entries[i] = makeEntry(i, a + 1);
        await backend.commit(snapshot);
      }
    }
  });
  phases.changes = (phases.changes ?? 0) / changes;
  await lock.unlock();
} else {
  const got = await phase("current", () => backend.current());
  if (got.entries.length !== entries) throw new Error(`read ${got.entries.length} entries, not ${entries}`);
}
process.stdout.write(`${JSON.stringify({ phases, peakRssMb: process.resourceUsage().maxRSS / 1024 })}\n`);
