import { execFileSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { QUICK, ratio, type ScenarioResult } from "./measure.js";

export function machine() {
  let disk = "unknown";
  try {
    disk = execFileSync("df", ["-hT", "/tmp"], { encoding: "utf8" }).trim().split("\n").pop() ?? disk;
  } catch {
    // df missing: the rest of the description still stands.
  }
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? "unknown",
    memoryGb: Number((totalmem() / 2 ** 30).toFixed(1)),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    tmpDisk: disk.replace(/\s+/g, " "),
  };
}

const fmt = (v: number) =>
  !Number.isFinite(v)
    ? "—"
    : Math.abs(v) >= 1000
      ? v.toFixed(0)
      : Math.abs(v) >= 10
        ? v.toFixed(1)
        : v.toFixed(2);

/** The table: one line per (metric, baseline); ratio = statekeeper cost / baseline cost. */
export function renderTable(results: ScenarioResult[]): string {
  const lines: string[][] = [["scenario", "metric", "statekeeper", "value", "baseline", "value", "ratio"]];
  for (const r of results)
    for (const row of r.rows) {
      const sk = `${fmt(row.statekeeper.value)} ${row.unit}`;
      if (row.baselines.length === 0) lines.push([r.id, row.metric, row.statekeeper.name, sk, "—", "—", "—"]);
      for (const b of row.baselines)
        lines.push([
          r.id,
          row.metric,
          row.statekeeper.name,
          sk,
          b.name,
          `${fmt(b.value)} ${row.unit}`,
          `${fmt(ratio(row, b))}×`,
        ]);
    }
  const widths = lines[0]?.map((_, i) => Math.max(...lines.map((l) => (l[i] ?? "").length))) ?? [];
  return lines.map((l) => l.map((c, i) => c.padEnd(widths[i] ?? 0)).join(" | ")).join("\n");
}

export async function writeResults(
  results: ScenarioResult[],
  startedAt: Date,
  durationMs: number,
): Promise<string> {
  const dir = join(import.meta.dirname, "..", "results");
  await mkdir(dir, { recursive: true });
  const doc = {
    startedAt: startedAt.toISOString(),
    durationMs: Math.round(durationMs),
    quick: QUICK,
    machine: machine(),
    ratioMeaning: "statekeeper cost / baseline cost: > 1 means statekeeper is slower (or writes more)",
    scenarios: results.map((r) => ({
      ...r,
      rows: r.rows.map((row) => ({
        ...row,
        baselines: row.baselines.map((b) => ({ ...b, ratio: ratio(row, b) })),
      })),
    })),
  };
  const body = `${JSON.stringify(doc, null, 2)}\n`;
  const stamped = join(dir, `${startedAt.toISOString().replace(/[:.]/g, "-")}${QUICK ? "-quick" : ""}.json`);
  await writeFile(stamped, body);
  await writeFile(join(dir, "latest.json"), body);
  return stamped;
}
