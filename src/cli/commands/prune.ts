import type { Command } from "commander";
import type { Backend } from "../../backend/index.js";
import { noopEncrypter } from "../../crypto/index.js";
import { StateKeeperError } from "../../errors.js";
import { type CliContext, globalsOf, openStackBackend, withStackLock } from "../context.js";
import { examples, withLockTimeout } from "../options.js";
import { out, paint, printJson } from "../output.js";
import { progress } from "../progress.js";

function parseKeep(text: string): number {
  if (!/^\d+$/.test(text))
    throw new StateKeeperError(
      "E_INVALID_ARGUMENT",
      `--keep must be a whole number (got ${JSON.stringify(text)})`,
    );
  return Number(text);
}

/** The newest `keep` revisions and the current one stay; everything older goes. */
async function plan(
  backend: Backend,
  keep: number,
): Promise<{ current: string | null; drop: string[]; kept: string[] }> {
  const [revs, pointer] = await Promise.all([backend.list(), backend.currentPointer()]);
  const current = pointer?.rev ?? null;
  const newest = new Set(keep === 0 ? [] : revs.slice(-keep));
  const kept = revs.filter((r) => newest.has(r) || r === current);
  const drop = revs.filter((r) => !newest.has(r) && r !== current);
  return { current, drop, kept };
}

export function registerPrune(program: Command, _ctx: CliContext): void {
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
      // Deleting needs no key: revisions are removed unopened.
      const backend = await openStackBackend(g, noopEncrypter());
      if (opts.yes !== true) {
        const { current, drop, kept } = await plan(backend, opts.keep);
        if (opts.json) return printJson({ dryRun: true, keep: opts.keep, current, wouldDelete: drop, kept });
        if (drop.length === 0) return out(`nothing to prune: ${kept.length} revisions, all kept`);
        out(
          `would delete ${drop.length} of ${drop.length + kept.length} revisions (dry run; add --yes to delete):`,
        );
        for (const rev of drop) out(`  ${paint("red", rev)}`);
        return;
      }
      const result = await withStackLock(backend, g, "prune", async (lock) => {
        // Planned again under the lock: a push since the dry run may have moved current.
        const { current, drop, kept } = await plan(backend, opts.keep);
        const bar = progress("pruning", drop.length);
        const deleted: string[] = [];
        try {
          for (const rev of drop) {
            if (lock.lost) throw lock.signal.reason;
            await backend.delete(rev);
            deleted.push(rev);
            bar.tick();
          }
        } finally {
          bar.done();
        }
        return { current, deleted, kept };
      });
      if (opts.json) return printJson({ dryRun: false, keep: opts.keep, ...result });
      out(`deleted ${result.deleted.length} revisions, kept ${result.kept.length}`);
    },
  );
  examples(prune, "prune --keep 20", "prune --keep 20 --yes", "prune --keep 5 --yes --json");
}
