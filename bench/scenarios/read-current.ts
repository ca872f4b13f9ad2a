// Scenario 13: `current()` of a 15 000-entry stack (scenario 3's fixture, about 100 MB; file
// store, key encrypter) in format 1 and format 2, against the floor: one file read, AES-256-GCM
// open and JSON.parse of the same whole state. Issue 13's read target is format 2 within 1.5× of
// the floor. Each side reads in processes of its own, rounds interleaved (floor, format 1,
// format 2) so a loaded machine weighs on all three alike. Reported, not asserted.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { withTempDir } from "../lib/dirs.js";
import { log, percentile, pick, type Row, type ScenarioResult } from "../lib/measure.js";

const run = promisify(execFile);
const child = join(import.meta.dirname, "..", "children", "read-current.ts");

async function inChild(args: string[]): Promise<{ reads?: number[]; peakRssMb?: number; bytes?: number }> {
  const { stdout } = await run(
    process.execPath,
    ["--max-old-space-size=4096", "--import", "tsx", child, ...args],
    {
      cwd: join(import.meta.dirname, "..", ".."),
      maxBuffer: 1 << 20,
    },
  );
  return JSON.parse(stdout.trim().split("\n").pop() ?? "{}");
}

const SIDES = ["floor", "1", "2"] as const;

export async function readCurrentScenario(): Promise<ScenarioResult> {
  const entries = pick(15000, 2000);
  const rounds = pick(3, 1);
  const reps = 3;
  return withTempDir("read-current", async (dir) => {
    log(`13 read current: ${entries} entries, stored as format 1, format 2 and the floor's one file`);
    const { bytes } = await inChild(["write", dir, String(entries)]);
    const reads = new Map<string, number[]>(SIDES.map((s) => [s, []]));
    const cold = new Map<string, number[]>(SIDES.map((s) => [s, []]));
    const rss = new Map<string, number>();
    for (let r = 0; r < rounds; r++)
      for (const side of SIDES) {
        log(`13 read current: round ${r + 1}/${rounds}, ${side === "floor" ? "floor" : `format ${side}`}`);
        const got = await inChild(["read", side, dir, String(entries), String(reps)]);
        const ms = got.reads ?? [];
        cold.get(side)?.push(ms[0] ?? Number.NaN);
        reads.get(side)?.push(...ms);
        rss.set(side, Math.max(rss.get(side) ?? 0, got.peakRssMb ?? 0));
      }
    const median = (side: string) => percentile(reads.get(side) ?? [], 50);
    const floorName = "floor: readFile + AES-256-GCM + JSON.parse";
    const row = (format: "1" | "2", baseline: "floor" | "1"): Row => ({
      metric: `current() of ${entries} entries, ms (median of ${rounds * reps})`,
      unit: "ms",
      better: "lower",
      statekeeper: { name: `statekeeper format ${format} (key, file)`, value: median(format) },
      baselines: [
        { name: baseline === "floor" ? floorName : "statekeeper format 1", value: median(baseline) },
      ],
      extra: {
        coldMedianMs: percentile(cold.get(format) ?? [], 50),
        baselineColdMedianMs: percentile(cold.get(baseline) ?? [], 50),
        peakRssMb: rss.get(format) ?? 0,
        baselinePeakRssMb: rss.get(baseline) ?? 0,
      },
    });
    return {
      id: "13-read-current",
      title: `current() of a ${entries}-entry stack (~${((bytes ?? 0) / 1e6).toFixed(0)} MB), format 2 and format 1 against the floor`,
      rows: [row("2", "floor"), row("1", "floor"), row("2", "1")],
      notes: SIDES.map(
        (s) =>
          `${s === "floor" ? "floor" : `format ${s}`}: reads ${(reads.get(s) ?? []).map((v) => v.toFixed(0)).join(", ")} ms; peak RSS ${(rss.get(s) ?? 0).toFixed(0)} MB`,
      ),
    };
  });
}
