import type { Command } from "commander";
import { listStacks } from "../../admin/index.js";
import { openStore } from "../../objectstore/schemes.js";
import { type CliContext, globalsOf, refuseUnobinLayout } from "../context.js";
import { examples } from "../options.js";
import { paint, printable, printJson, printTable } from "../output.js";

export function registerStacks(program: Command, _ctx: CliContext): void {
  const cmd = program
    .command("stacks")
    .description("list the factories and stacks in the store: current rev, revision count, lock state")
    .option(
      "--json",
      "print JSON: {stacks: [{factory, stack, current, size, entries, updated, by, revisions, locked, holder}]}",
    )
    .action(async (opts: { json?: boolean }, command: Command) => {
      const g = globalsOf(command);
      refuseUnobinLayout(g);
      // Pointers and locks are plain JSON: no key is needed to list them.
      const rows = await listStacks(await openStore(g.store));
      if (opts.json) return printJson({ stacks: rows });
      if (rows.length === 0) return void process.stdout.write("no stacks in this store\n");
      printTable(
        ["FACTORY", "STACK", "CURRENT", "ENTRIES", "REVISIONS", "LOCK"],
        rows.map((r) => [
          printable(r.factory),
          printable(r.stack),
          r.current ?? paint("dim", "(none)"),
          // Recorded in the pointer at commit; "?" where it was not (open the revision to count).
          r.current === null ? "-" : r.entries === null ? "?" : String(r.entries),
          String(r.revisions),
          r.holder === null
            ? "-"
            : paint("yellow", `locked by ${printable(r.holder.user)}@${printable(r.holder.host)}`),
        ]),
      );
    });
  examples(cmd, "stacks", "--store file:///srv/state stacks --json");
}
