import type { Command } from "commander";
import { createBackend, listStacks } from "../../backend/index.js";
import { noopEncrypter } from "../../crypto/index.js";
import type { LockHolder } from "../../errors.js";
import { openStore } from "../../objectstore/schemes.js";
import { type CliContext, globalsOf } from "../context.js";
import { examples } from "../options.js";
import { paint, printable, printJson, printTable } from "../output.js";

export interface StackRow {
  factory: string;
  stack: string;
  current: string | null;
  revisions: number;
  locked: boolean;
  holder: LockHolder | null;
}

export function registerStacks(program: Command, _ctx: CliContext): void {
  const cmd = program
    .command("stacks")
    .description("list the factories and stacks in the store: current rev, revision count, lock state")
    .option("--json", "print JSON: {stacks: [{factory, stack, current, revisions, locked, holder}]}")
    .action(async (opts: { json?: boolean }, command: Command) => {
      const g = globalsOf(command);
      const store = await openStore(g.store);
      const rows: StackRow[] = [];
      for (const s of await listStacks(store)) {
        // Pointer and lock are plain JSON: no key is needed to read them.
        const backend = createBackend(store, {
          factory: s.factory,
          stack: s.stack,
          encrypter: noopEncrypter(),
        });
        const pointer = s.hasCurrent ? await backend.currentPointer() : undefined;
        const holder = s.locked ? await backend.lockInfo() : undefined;
        rows.push({
          factory: s.factory,
          stack: s.stack,
          current: pointer?.rev ?? null,
          revisions: s.revisions,
          locked: holder !== undefined,
          holder: holder === undefined ? null : toHolder(holder),
        });
      }
      if (opts.json) return printJson({ stacks: rows });
      if (rows.length === 0) return void process.stdout.write("no stacks in this store\n");
      printTable(
        ["FACTORY", "STACK", "CURRENT", "REVISIONS", "LOCK"],
        rows.map((r) => [
          printable(r.factory),
          printable(r.stack),
          r.current ?? paint("dim", "(none)"),
          String(r.revisions),
          r.holder === null
            ? "-"
            : paint("yellow", `locked by ${printable(r.holder.user)}@${printable(r.holder.host)}`),
        ]),
      );
    });
  examples(cmd, "stacks", "--store file:///srv/state stacks --json");
}

export function toHolder(h: LockHolder): LockHolder {
  return { id: h.id, user: h.user, host: h.host, pid: h.pid, operation: h.operation, since: h.since };
}
