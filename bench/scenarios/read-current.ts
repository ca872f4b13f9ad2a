// Scenario 13: `current()` of a 15 000-entry stack (scenario 3's fixture, about 100 MB; file
// store, key encrypter) in format 1 and format 2, against the floor: one file read, AES-256-GCM
// open and JSON.parse of the same whole state. Issue 13's read target is format 2 within 1.5× of
// the floor. Each side reads in processes of its own, rounds interleaved (floor, format 1,
// format 2) so a loaded machine weighs on all three alike; CPU time (every thread of the reading
// process) is reported beside wall-clock time, as it holds better when other work shares the
// machine. Reported, not asserted.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { withTempDir } from "../lib/dirs.js";
import { log, percentile, pick, type Row, type ScenarioResult } from "../lib/measure.js";

const run = promisify(execFile);
const child = join(import.meta.dirname, "..", "children", "read-current.ts");

interface ChildResult {
  reads?: number[];
  cpu?: number[];
  peakRssMb?: number;
  bytes?: number;
}

async function inChild(args: string[]): Promise<ChildResult> {
  const { stdout } = await run(
    process.execPath,
    ["--max-old-space-size=4096", "--import", "tsx", child, ...args],
    { cwd: join(import.meta.dirname, "..", ".."), maxBuffer: 1 << 20 },
  );
  return JSON.parse(stdout.trim().split("\n").pop() ?? "{}") as ChildResult;
}

const SIDES = ["floor", "1", "2"] as const;
type SideName = (typeof SIDES)[number];
const label = (s: SideName) => (s === "floor" ? "floor" : `format ${s}`);

export async function readCurrentScenario(): Promise<ScenarioResult> {
  const entries = pick(15000, 2000);
  const rounds = pick(3, 1);
  const reps = 3;
  return withTempDir("read-current", async (dir) => {
    log(`13 read current: ${entries} entries, stored as format 1, format 2 and the floor's one file`);
    const { bytes } = await inChild(["write", dir, String(entries)]);
    const wall = new Map<SideName, number[]>(SIDES.map((s) => [s, []]));
    const cpu = new Map<SideName, number[]>(SIDES.map((s) => [s, []]));
    const rss = new Map<SideName, number>();
    for (let r = 0; r < rounds; r++)
      for (const side of SIDES) {
        log(`13 read current: round ${r + 1}/${rounds}, ${label(side)}`);
        const got = await inChild(["read", side, dir, String(entries), String(reps)]);
        wall.get(side)?.push(...(got.reads ?? []));
        cpu.get(side)?.push(...(got.cpu ?? []));
        rss.set(side, Math.max(rss.get(side) ?? 0, got.peakRssMb ?? 0));
      }
    const median = (m: Map<SideName, number[]>, s: SideName) => percentile(m.get(s) ?? [], 50);
    const floorName = "floor: readFile + AES-256-GCM + JSON.parse";
    const row = (what: "wall" | "cpu", format: "1" | "2", baseline: "floor" | "1"): Row => {
      const m = what === "wall" ? wall : cpu;
      return {
        metric: `current() of ${entries} entries, ${what === "wall" ? "wall-clock" : "CPU"} ms (median of ${rounds * reps})`,
        unit: "ms",
        better: "lower",
        statekeeper: { name: `statekeeper format ${format} (key, file)`, value: median(m, format) },
        baselines: [
          { name: baseline === "floor" ? floorName : "statekeeper format 1", value: median(m, baseline) },
        ],
        extra: { peakRssMb: rss.get(format) ?? 0, baselinePeakRssMb: rss.get(baseline) ?? 0 },
      };
    };
    return {
      id: "13-read-current",
      title: `current() of a ${entries}-entry stack (~${((bytes ?? 0) / 1e6).toFixed(0)} MB), format 2 and format 1 against the floor`,
      rows: [
        row("wall", "2", "floor"),
        row("cpu", "2", "floor"),
        row("wall", "1", "floor"),
        row("cpu", "1", "floor"),
        row("wall", "2", "1"),
      ],
      notes: SIDES.map(
        (s) =>
          `${label(s)}: wall ${(wall.get(s) ?? []).map((v) => v.toFixed(0)).join(", ")} ms; CPU ${(cpu.get(s) ?? []).map((v) => v.toFixed(0)).join(", ")} ms; peak RSS ${(rss.get(s) ?? 0).toFixed(0)} MB`,
      ),
    };
  });
}
