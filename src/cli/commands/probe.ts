import type { Command } from "commander";
import { supportedHeads } from "../../objectstore/probe.js";
import { describeStoreUrl, openStore } from "../../objectstore/schemes.js";
import { type CliContext, globalsOf } from "../context.js";
import { EXIT } from "../exit-codes.js";
import { examples } from "../options.js";
import { out, paint, printable, printJson } from "../output.js";

export function registerProbe(program: Command, ctx: CliContext): void {
  const probe = program
    .command("probe [url]")
    .description(
      "test which write preconditions a store really honours (default: --store); exit 1 if it would be refused",
    )
    .option(
      "--json",
      "print JSON: {url, store, supported, heads: {pointer, log}, createOnly, compareAndSwap, conditionalDelete, notes}",
    )
    .action(async (url: string | undefined, opts: { json?: boolean }, command: Command) => {
      const target = url ?? globalsOf(command).store;
      const store = await openStore(target);
      const caps = await store.probe();
      const heads = supportedHeads(caps);
      const supported = heads.pointer;
      if (!supported) ctx.exitCode = EXIT.error;
      if (opts.json)
        return printJson({
          url: describeStoreUrl(target),
          store: store.name,
          supported,
          heads,
          createOnly: caps.createOnly,
          compareAndSwap: caps.compareAndSwap,
          conditionalDelete: caps.conditionalDelete,
          notes: caps.notes,
        });
      const mark = (ok: boolean) => (ok ? paint("green", "honoured") : paint("red", "NOT honoured"));
      out(`${describeStoreUrl(target)} (${store.name} store)`);
      out(`  create-only writes (If-None-Match: *)  ${mark(caps.createOnly)}`);
      out(`  compare-and-swap writes (If-Match)     ${mark(caps.compareAndSwap)}`);
      out(
        `  conditional delete (If-Match)          ${caps.conditionalDelete ? paint("green", "honoured") : paint("yellow", "not honoured (read-compare-delete is used)")}`,
      );
      for (const note of caps.notes) out(`  note: ${printable(note)}`);
      const verdict = (ok: boolean) => (ok ? paint("green", "kept") : paint("red", "refused"));
      out(`  stacks with a current pointer          ${verdict(heads.pointer)}`);
      out(`  stacks headed by a log (head: "log")   ${verdict(heads.log)}`);
      out(
        supported
          ? paint("green", "supported: statekeeper will store state here")
          : heads.log
            ? paint(
                "red",
                'refused: without compare-and-swap only stacks headed by a log (head: "log") are kept here; records, deployments and pointer stacks are refused',
              )
            : paint("red", "refused: this store would not keep two writers apart"),
      );
    });
  examples(
    probe,
    "probe",
    "probe 's3://bucket/prefix?region=eu-west-1&endpoint=https://minio.local:9000' --json",
  );
}
