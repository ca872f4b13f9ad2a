import type { Command } from "commander";
import { inspectEnvelope } from "../../crypto/index.js";
import { isStateKeeperError } from "../../errors.js";
import { compareRevisions } from "../../snapshot/index.js";
import { type CliContext, globalsOf, openStackBackend, sourceEncrypter } from "../context.js";
import { EXIT, exitCodeFor } from "../exit-codes.js";
import { examples } from "../options.js";
import { out, paint, printable, printJson } from "../output.js";
import { progress } from "../progress.js";

export interface Problem {
  rev: string;
  code: string;
  message: string;
}

/** Integrity and decrypt failures are findings; anything else (store down) stops the run. */
function asProblem(rev: string, e: unknown): Problem {
  if (!isStateKeeperError(e) || (exitCodeFor(e) !== EXIT.integrity && e.code !== "E_NOT_FOUND")) throw e;
  return { rev, code: e.code, message: e.message };
}

export function registerVerify(program: Command, ctx: CliContext): void {
  const verify = program
    .command("verify")
    .description("open every revision and check the current digest; reports each problem, exit 5 if any")
    .option(
      "--json",
      "print JSON: {factory, stack, ok, revisions, current, sealedWith: {keyId: count}, orphans, problems: [{rev, code, message}]}",
    )
    .action(async (opts: { json?: boolean }, command: Command) => {
      const g = globalsOf(command);
      const backend = await openStackBackend(g, sourceEncrypter(ctx, g));
      const problems: Problem[] = [];
      let current: string | null = null;
      try {
        current = (await backend.currentPointer())?.rev ?? null;
      } catch (e) {
        problems.push(asProblem("current", e));
      }
      const revs = await backend.list();
      const sealedWith: Record<string, number> = {};
      const bar = progress("verifying", revs.length);
      try {
        for (const rev of revs) {
          try {
            const keyId = inspectEnvelope(await backend.readSealed(rev)).keyId;
            sealedWith[keyId] = (sealedWith[keyId] ?? 0) + 1;
            await backend.get(rev);
          } catch (e) {
            problems.push(asProblem(rev, e));
          }
          bar.tick();
        }
      } finally {
        bar.done();
      }
      if (current !== null) {
        try {
          // Checks the sealed bytes against the digest recorded in `current`, then opens them.
          await backend.current();
        } catch (e) {
          const problem = asProblem(current, e);
          // The current rev's own failure was reported above; only a digest mismatch is new here.
          if (!problems.some((p) => p.rev === problem.rev && p.message === problem.message))
            problems.push(problem);
        }
      }
      // Revisions newer than current were written but never made current (an interrupted commit).
      const orphans = current === null ? [] : revs.filter((r) => compareRevisions(r, current as string) > 0);
      if (problems.length > 0) ctx.exitCode = EXIT.integrity;
      const ok = problems.length === 0;
      if (opts.json)
        return printJson({
          factory: backend.factory,
          stack: backend.stack,
          ok,
          revisions: revs.length,
          current,
          sealedWith,
          orphans,
          problems,
        });
      for (const p of problems) out(`${paint("red", "PROBLEM")} ${p.rev}: ${printable(p.message)}`);
      const keys = Object.entries(sealedWith)
        .map(([k, n]) => `${n} on ${printable(k)}`)
        .join(", ");
      out(
        `${ok ? paint("green", "ok") : paint("red", `${problems.length} problem(s)`)}: ${revs.length} revisions` +
          `${keys === "" ? "" : ` (${keys})`}, current ${current ?? "(none)"}`,
      );
      if (orphans.length > 0)
        out(
          `${orphans.length} revision(s) newer than current were never made current: ${orphans.join(", ")}`,
        );
    });
  examples(verify, "verify", "verify --json");
}
