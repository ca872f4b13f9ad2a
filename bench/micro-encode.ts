// Micro-benchmark of snapshot encoding on the "100 MB state" of scenario 4 (15 000 entries).
// Usage: node --import tsx bench/micro-encode.ts [entries] [rounds]
// Prints the wall-clock ms (min and median of interleaved rounds; minCpu is CPU time, steadier
// on a loaded machine) of encodeSnapshot, of JSON.stringify of the same snapshot (the floor),
// of encodeSnapshot of that snapshot decoded back (keys already in order), and of the replacer-based sorted serialization encodeSnapshot used before, plus a check that
// the output is in canonical form (re-serializing it the old way gives the same bytes).
import { performance } from "node:perf_hooks";
import { decodeSnapshot, encodeSnapshot } from "../src/snapshot/index.js";
import { makeSnapshot } from "./lib/fixtures.js";

const entries = Number(process.argv[2] ?? 15000);
const rounds = Number(process.argv[3] ?? 7);

function sortKeysReplacer(_key: string, value: unknown): unknown {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return value;
  const o = value as Record<string, unknown>;
  const sorted = Object.create(null) as Record<string, unknown>;
  for (const key of Object.keys(o).sort()) sorted[key] = o[key];
  return sorted;
}

/** Runs the candidates interleaved, round after round, so load from other processes hits all alike. */
function measure(
  candidates: Record<string, () => unknown>,
): Record<string, { min: number; median: number; minCpu: number }> {
  const times: Record<string, number[]> = {};
  const cpuTimes: Record<string, number[]> = {};
  for (const [name, fn] of Object.entries(candidates)) {
    fn(); // warm-up
    times[name] = [];
    cpuTimes[name] = [];
  }
  for (let i = 0; i < rounds; i++) {
    for (const [name, fn] of Object.entries(candidates)) {
      const start = performance.now();
      const cpuStart = process.cpuUsage();
      fn();
      times[name]?.push(performance.now() - start);
      const cpu = process.cpuUsage(cpuStart);
      cpuTimes[name]?.push((cpu.user + cpu.system) / 1000);
    }
  }
  const out: Record<string, { min: number; median: number; minCpu: number }> = {};
  for (const [name, list] of Object.entries(times)) {
    list.sort((a, b) => a - b);
    const round = (n: number) => Math.round(n * 10) / 10;
    out[name] = {
      min: round(list[0] as number),
      median: round(list[Math.floor(list.length / 2)] as number),
      minCpu: round(Math.min(...(cpuTimes[name] ?? []))),
    };
  }
  return out;
}

const snapshot = makeSnapshot("large", entries);
const encoded = encodeSnapshot(snapshot);
const text = new TextDecoder().decode(encoded);
const parsed: unknown = JSON.parse(text);
// What a real update re-encodes: a snapshot decoded from its stored form, keys already sorted.
const decoded = decodeSnapshot(encoded);
const canonical = `${JSON.stringify(parsed, sortKeysReplacer, 2)}\n` === text;

const results = measure({
  encodeSnapshot: () => encodeSnapshot(snapshot),
  encodeSnapshotOfDecoded: () => encodeSnapshot(decoded),
  floorStringifyIndent2: () => Buffer.from(JSON.stringify(snapshot, null, 2)),
  replacerOnly: () => new TextEncoder().encode(`${JSON.stringify(parsed, sortKeysReplacer, 2)}\n`),
});
const ratio = (a: number | undefined, b: number | undefined) => Math.round(((a ?? 0) / (b ?? 1)) * 100) / 100;
process.stdout.write(
  `${JSON.stringify({
    entries,
    bytes: encoded.byteLength,
    canonical,
    ms: results,
    ratioToFloor: {
      min: ratio(results.encodeSnapshot?.min, results.floorStringifyIndent2?.min),
      median: ratio(results.encodeSnapshot?.median, results.floorStringifyIndent2?.median),
    },
  })}\n`,
);
