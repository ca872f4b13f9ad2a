import type { Command } from "commander";
import { verifyStack } from "../../admin/index.js";
import { type CliContext, globalsOf, openStackBackend, sourceEncrypter } from "../context.js";
import { EXIT } from "../exit-codes.js";
import { examples } from "../options.js";
import { out, paint, printable, printJson } from "../output.js";
import { withProgress } from "../progress.js";

export function registerVerify(program: Command, ctx: CliContext): void {
  const verify = program
    .command("verify")
    .description(
      "open every revision, check current's pointer and digest, follow the line of history; reports each problem, exit 5 if any",
    )
    .option(
      "--json",
      "print JSON: {factory, stack, ok, revisions, current, sealedWith: {keyId: count}, orphans, problems: [{rev, code, message}]}",
    )
    .action(async (opts: { json?: boolean }, command: Command) => {
      const g = globalsOf(command);
      const backend = await openStackBackend(g, sourceEncrypter(ctx, g));
      const report = await withProgress((onProgress) => verifyStack(backend, { onProgress }));
      if (!report.ok) ctx.exitCode = EXIT.integrity;
      if (opts.json) return printJson(report);
      for (const p of report.problems) out(`${paint("red", "PROBLEM")} ${p.rev}: ${printable(p.message)}`);
      const keys = Object.entries(report.sealedWith)
        .map(([k, n]) => `${n} on ${printable(k)}`)
        .join(", ");
      out(
        `${report.ok ? paint("green", "ok") : paint("red", `${report.problems.length} problem(s)`)}: ${report.revisions} revisions` +
          `${keys === "" ? "" : ` (${keys})`}, current ${report.current ?? "(none)"}`,
      );
      if (report.orphans.length > 0)
        out(
          `${report.orphans.length} revision(s) were written but never made current (interrupted or refused commits): ${report.orphans.join(", ")}`,
        );
    });
  examples(verify, "verify", "verify --json");
}
