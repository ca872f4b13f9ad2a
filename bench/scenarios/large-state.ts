import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { withTempDir } from "../lib/dirs.js";
import { log, pick, type Row, type ScenarioResult } from "../lib/measure.js";

const run = promisify(execFile);
const child = join(import.meta.dirname, "..", "children", "large-state.ts");

interface ChildResult {
  phases: Record<string, number>;
  peakRssMb: number;
  rssAfterBuildMb: number;
  peakHeapMb: number;
}

async function side(name: "statekeeper" | "floor", entries: number): Promise<ChildResult> {
  return withTempDir(`large-${name}`, async (dir) => {
    const { stdout } = await run(process.execPath, ["--import", "tsx", child, name, dir, String(entries)], {
      cwd: join(import.meta.dirname, "..", ".."),
      maxBuffer: 1 << 20,
    });
    return JSON.parse(stdout.trim().split("\n").pop() ?? "{}") as ChildResult;
  });
}

export async function largeStateScenario(): Promise<ScenarioResult> {
  const entries = pick(15000, 3000);
  log(`4 large state: ${entries} entries, one child process per side`);
  const sk = await side("statekeeper", entries);
  const floor = await side("floor", entries);
  const floorName = "floor: JSON.stringify/parse + AES-256-GCM + write/fsync/rename";
  const rows: Row[] = ["encode", "seal", "write", "read", "open", "decode"].map((p) => ({
    metric: `${p} ms`,
    unit: "ms",
    better: "lower",
    statekeeper: { name: "statekeeper (key encrypter, file store)", value: sk.phases[p] ?? Number.NaN },
    baselines: [{ name: floorName, value: floor.phases[p] ?? Number.NaN }],
  }));
  const total = (r: ChildResult) =>
    ["encode", "seal", "write", "read", "open", "decode"].reduce((a, p) => a + (r.phases[p] ?? 0), 0);
  rows.push(
    {
      metric: "total ms (write path + read path)",
      unit: "ms",
      better: "lower",
      statekeeper: { name: "statekeeper", value: total(sk) },
      baselines: [{ name: floorName, value: total(floor) }],
      extra: { statekeeperBytes: sk.phases.bytes ?? 0, floorBytes: floor.phases.bytes ?? 0 },
    },
    {
      metric: "peak RSS above the built snapshot, MB",
      unit: "MB",
      better: "lower",
      statekeeper: { name: "statekeeper", value: sk.peakRssMb - sk.rssAfterBuildMb },
      baselines: [{ name: floorName, value: floor.peakRssMb - floor.rssAfterBuildMb }],
      extra: { statekeeperPeakRssMb: sk.peakRssMb, floorPeakRssMb: floor.peakRssMb },
    },
    {
      metric: "peak heap used (sampled after each phase), MB",
      unit: "MB",
      better: "lower",
      statekeeper: { name: "statekeeper", value: sk.peakHeapMb },
      baselines: [{ name: floorName, value: floor.peakHeapMb }],
    },
  );
  return {
    id: "4-large-state",
    title: `Large state: one ${entries}-entry snapshot (~${((sk.phases.bytes ?? 0) / 1e6).toFixed(0)} MB sealed), each side in its own process`,
    rows,
  };
}
