import { writeFile } from "node:fs/promises";
import type { Command } from "commander";
import { age, formatBytes } from "../../internal/text.js";
import {
  encodeSnapshot,
  maskSensitive,
  revisionTime,
  SENSITIVE_MASK,
  type Snapshot,
} from "../../snapshot/index.js";
import { type CliContext, globalsOf, openReadableBackend } from "../context.js";
import { EXIT } from "../exit-codes.js";
import { examples } from "../options.js";
import { formatValue, out, paint, printable, printJson, printTable, warn } from "../output.js";
import { progress } from "../progress.js";
import { currentOrNull, resolveRev } from "../revs.js";

export interface HistoryRow {
  rev: string;
  time: string | null;
  size: number;
  entries: number | null;
  generatedAt: string | null;
  /** `user@host` that committed it, where the revision records it. */
  by: string | null;
  current: boolean;
  /** The rev this one was written to replace ("" for a first commit), null when unrecorded. */
  parent: string | null;
  error?: { code: string; message: string };
}

export function registerHistory(program: Command, ctx: CliContext): void {
  const history = program
    .command("history")
    .description("revisions oldest → newest: time, size, entry count, which is current")
    .option("--reverse", "newest first")
    .option(
      "--json",
      "print JSON: {factory, stack, current, currentProblem?, revisions: [{rev, time, size, entries, generatedAt, by, current, parent, error?}]}",
    )
    .action(async (opts: { reverse?: boolean; json?: boolean }, command: Command) => {
      const g = globalsOf(command);
      const backend = await openReadableBackend(ctx, g);
      let bar: ReturnType<typeof progress> | undefined;
      // Each revision's manifest, not its every chunk: `verify` is the full check.
      const history = await backend.history({
        open: "summary",
        onProgress: (done, total) => {
          bar ??= progress("reading", total);
          bar.tick();
          if (done === total) bar.done();
        },
      });
      const rows: HistoryRow[] = history.revisions.map((r) => ({
        rev: r.rev,
        time: revisionTime(r.rev),
        size: r.size,
        entries: r.entries ?? null,
        generatedAt: r.generatedAt ?? null,
        by: r.committedBy ?? null,
        current: r.current,
        parent: r.parentRevision ?? null,
        ...(r.problem === undefined ? {} : { error: r.problem }),
      }));
      if (history.currentProblem !== undefined || rows.some((r) => r.error !== undefined))
        ctx.exitCode = EXIT.integrity;
      const pointer = history.current;
      if (opts.reverse) rows.reverse();
      if (opts.json)
        return printJson({
          factory: backend.factory,
          stack: backend.stack,
          current: pointer,
          ...(history.currentProblem === undefined ? {} : { currentProblem: history.currentProblem }),
          revisions: rows,
        });
      if (rows.length === 0) return out(`no revisions in ${backend.factory}/${backend.stack}`);
      printTable(
        ["", "REV", "AGE", "SIZE", "ENTRIES", "BY", "GENERATED"],
        rows.map((r) => [
          r.current ? paint("green", "*") : "",
          r.current ? paint("green", r.rev) : r.rev,
          age(r.time),
          formatBytes(r.size),
          r.entries === null ? paint("red", "?") : String(r.entries),
          r.by === null ? paint("dim", "-") : printable(r.by),
          r.error === undefined
            ? printable(r.generatedAt ?? "")
            : paint("red", `unreadable: ${r.error.code}`),
        ]),
      );
      for (const r of rows) if (r.error !== undefined) warn(`${r.rev}: ${r.error.message}`);
      if (history.currentProblem !== undefined) warn(`current: ${history.currentProblem.message}`);
      else if (pointer === null) out(paint("dim", "(no current revision)"));
    });
  examples(history, "history --factory webshop --stack prod", "history --reverse --json");

  const show = program
    .command("show [rev]")
    .description("entries (address, type, kind/library) and outputs of the current or given rev")
    .option("--show-sensitive", "print sensitive values instead of (sensitive)")
    .option(
      "--json",
      "print JSON: {rev, current, snapshot: {formatVersion, factory, stack, generatedAt, entries, outputs}}",
    )
    .action(
      async (
        rev: string | undefined,
        opts: { showSensitive?: boolean; json?: boolean },
        command: Command,
      ) => {
        const g = globalsOf(command);
        const backend = await openReadableBackend(ctx, g);
        const resolved = await resolveRev(backend, rev);
        const [snapshot, current] = await Promise.all([backend.get(resolved), currentOrNull(backend)]);
        // A wrapped document (a Terraform state) holds every sensitive value in clear: masked whole.
        const shown: Snapshot = opts.showSensitive
          ? snapshot
          : {
              ...snapshot,
              entries: snapshot.entries.map(maskSensitive),
              ...(snapshot.document === undefined
                ? {}
                : { document: { mediaType: snapshot.document.mediaType, text: SENSITIVE_MASK } }),
            };
        const isCurrent = current === resolved;
        if (opts.json) return printJson({ rev: resolved, current: isCurrent, snapshot: shown });
        printShow(resolved, isCurrent, shown);
      },
    );
  examples(show, "show", "show 2026-05-12T15:30:00.123456789Z", "show current~1 --json");

  const pull = program
    .command("pull [rev]")
    .description(
      "write the snapshot JSON of the current or given rev (exactly the encoded bytes, unmasked); for a Terraform/OpenTofu state, the state exactly as the tool sent it",
    )
    .option("-o, --output <file>", "write to this file (mode 0600) instead of stdout")
    .action(async (rev: string | undefined, opts: { output?: string }, command: Command) => {
      const g = globalsOf(command);
      const backend = await openReadableBackend(ctx, g);
      const snapshot = await backend.get(await resolveRev(backend, rev));
      const bytes =
        snapshot.document === undefined
          ? encodeSnapshot(snapshot)
          : Buffer.from(snapshot.document.text, "utf8");
      if (opts.output === undefined) process.stdout.write(bytes);
      else await writeFile(opts.output, bytes, { mode: 0o600 });
    });
  examples(pull, "pull > state.json", "pull current~2 -o old.json");
}

function printShow(rev: string, isCurrent: boolean, s: Snapshot): void {
  out(
    `${paint("bold", `${printable(s.factory.name)}/${printable(s.stack)}`)}  rev ${rev}${isCurrent ? paint("green", " (current)") : ""}`,
  );
  out(
    `factory ${printable(s.factory.name)} ${printable(s.factory.version)} (${printable(s.factory.contentRevision)}), generated ${printable(s.generatedAt)}`,
  );
  out();
  if (s.entries.length === 0) out(paint("dim", "no entries"));
  else
    printTable(
      ["ADDRESS", "TYPE", "KIND / LIBRARY"],
      s.entries.map((e) => [
        printable(e.address),
        e.type,
        printable(e.kind ?? (e.library === undefined ? "" : `${e.library}.${e.libraryType ?? ""}`)),
      ]),
    );
  const outputs = Object.entries(s.outputs ?? {});
  if (outputs.length > 0) {
    out();
    printTable(
      ["OUTPUT", "VALUE"],
      outputs.map(([k, v]) => [printable(k), printable(formatValue(v))]),
    );
  }
}
