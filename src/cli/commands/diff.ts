import type { Command } from "commander";
import { type FieldChange, hasChanges, type SnapshotDiff, type ValueChange } from "../../snapshot/index.js";
import { type CliContext, globalsOf, openReadableBackend } from "../context.js";
import { examples } from "../options.js";
import { formatValue, out, paint, printable, printJson } from "../output.js";
import { resolveRev } from "../revs.js";

export function registerDiff(program: Command, ctx: CliContext): void {
  const diff = program
    .command("diff <revA> [revB]")
    .description(
      "per address: added, removed and changed entries with field-level changes, from revA to revB (default current)",
    )
    .option("--show-sensitive", "print sensitive values instead of (sensitive)")
    .option(
      "--json",
      "print JSON: {from, to, changed: boolean, diff: {snapshot, added, removed, changed, outputs}}",
    )
    .action(
      async (
        a: string,
        b: string | undefined,
        opts: { showSensitive?: boolean; json?: boolean },
        command: Command,
      ) => {
        const g = globalsOf(command);
        const backend = await openReadableBackend(ctx, g);
        const from = await resolveRev(backend, a);
        const to = await resolveRev(backend, b);
        // The backend reads only what can differ (format 2: the chunks the two do not share).
        const { unchanged: _, ...d } = await backend.diff(from, to, {
          showSensitive: opts.showSensitive === true,
        });
        if (opts.json) return printJson({ from, to, changed: hasChanges(d), diff: d });
        printDiff(from, to, d);
      },
    );
  examples(diff, "diff 2026-05-12T15:30:00.123456789Z", "diff current~1 current", "diff REV_A REV_B --json");
}

function joinPath(base: string, path: string): string {
  return path.startsWith("[") ? `${base}${path}` : `${base}.${path}`;
}

function valueLine(c: ValueChange | FieldChange, name: string, indent = "      "): string {
  const before = "before" in c ? printable(formatValue(c.before)) : undefined;
  const after = "after" in c ? printable(formatValue(c.after)) : undefined;
  const shown = printable(name);
  if (before === undefined) return `${indent}${paint("green", "+")} ${shown} = ${after ?? "(none)"}`;
  if (after === undefined) return `${indent}${paint("red", "-")} ${shown} = ${before}`;
  return `${indent}${paint("yellow", "~")} ${shown}: ${before} → ${after}`;
}

function printDiff(from: string, to: string, d: SnapshotDiff): void {
  out(paint("bold", `diff ${from} → ${to}`));
  if (!hasChanges(d)) {
    out("no changes");
    return;
  }
  for (const c of d.snapshot) out(valueLine(c, c.field, ""));
  for (const e of d.added)
    out(
      `${paint("green", `+ ${printable(e.address)}`)}  ${e.type}${e.kind === undefined ? "" : ` ${printable(e.kind)}`}`,
    );
  for (const e of d.removed)
    out(
      `${paint("red", `- ${printable(e.address)}`)}  ${e.type}${e.kind === undefined ? "" : ` ${printable(e.kind)}`}`,
    );
  for (const e of d.changed) {
    out(paint("yellow", `~ ${printable(e.address)}`));
    for (const f of e.fields) out(valueLine(f, f.field));
    for (const c of e.inputs) out(valueLine(c, joinPath("inputs", c.path)));
    for (const c of e.outputs) out(valueLine(c, joinPath("outputs", c.path)));
    for (const dep of e.dependsOn.added) out(`      ${paint("green", "+")} depends-on ${printable(dep)}`);
    for (const dep of e.dependsOn.removed) out(`      ${paint("red", "-")} depends-on ${printable(dep)}`);
  }
  if (d.outputs.length > 0) {
    out(paint("bold", "outputs"));
    for (const c of d.outputs) out(valueLine(c, c.path, "  "));
  }
  out(
    paint(
      "dim",
      `${d.added.length} added, ${d.removed.length} removed, ${d.changed.length} changed, ${d.outputs.length} output changes`,
    ),
  );
}
