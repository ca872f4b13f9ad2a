import type { Command } from "commander";
import { pruneStack } from "../../admin/index.js";
import { StateKeeperError } from "../../errors.js";
import { formatBytes } from "../../internal/text.js";
import { type CliContext, globalsOf, lockOptionsOf, openStackBackend, sourceEncrypter } from "../context.js";
import { examples, withLockTimeout } from "../options.js";
import { out, paint, printJson, warn } from "../output.js";
import { withProgress } from "../progress.js";

function parseKeep(text: string): number {
  if (!/^\d+$/.test(text))
    throw new StateKeeperError(
      "E_INVALID_ARGUMENT",
      `--keep must be a whole number (got ${JSON.stringify(text)})`,
    );
  return Number(text);
}

export function registerPrune(program: Command, ctx: CliContext): void {
  const prune = program
    .command("prune")
    .description(
      "delete old revisions, keeping the newest N and always the current one (dry run unless --yes)",
    )
    .requiredOption("--keep <n>", "how many of the newest revisions to keep", parseKeep)
    .option("-y, --yes", "really delete (otherwise only list what would be deleted)")
    .option("--json", "print JSON: {dryRun, keep, current, deleted | wouldDelete: [rev], kept: [rev]}");
  withLockTimeout(prune).action(
    async (opts: { keep: number; yes?: boolean; json?: boolean }, command: Command) => {
      const g = globalsOf(command);
      // Revisions are deleted unopened; the key (when given) opens format-2 manifests, so that
      // chunks no remaining revision needs can be swept.
      const backend = await openStackBackend(g, sourceEncrypter(ctx, g));
      if (opts.yes !== true) {
        const plan = await pruneStack(backend, { keep: opts.keep, dryRun: true });
        if (opts.json) return printJson(plan);
        const { wouldDelete, kept } = plan;
        if (wouldDelete.length === 0) return out(`nothing to prune: ${kept.length} revisions, all kept`);
        out(
          `would delete ${wouldDelete.length} of ${wouldDelete.length + kept.length} revisions (dry run; add --yes to delete):`,
        );
        for (const rev of wouldDelete) out(`  ${paint("red", rev)}`);
        return;
      }
      const result = await withProgress((onProgress) =>
        pruneStack(backend, { keep: opts.keep, ...lockOptionsOf(g), onProgress }),
      );
      if (opts.json) return printJson(result);
      out(`deleted ${result.deleted.length} revisions, kept ${result.kept.length}`);
      const { chunks } = result;
      if (chunks.skipped !== undefined) warn(`chunks not swept: ${chunks.skipped}`);
      else if (chunks.chunks > 0)
        out(
          `deleted ${chunks.deleted} of ${chunks.chunks} chunks (${formatBytes(chunks.deletedBytes)}) that no remaining revision needs` +
            (chunks.young > 0 ? `; ${chunks.young} unneeded but younger than the grace period kept` : ""),
        );
    },
  );
  examples(prune, "prune --keep 20", "prune --keep 20 --yes", "prune --keep 5 --yes --json");
}
