import type { Command } from "commander";
import { migrateStack } from "../../admin/index.js";
import { backendInternals } from "../../backend/internals.js";
import { StateKeeperError } from "../../errors.js";
import { describeStoreUrl } from "../../objectstore/schemes.js";
import {
  type CliContext,
  globalsOf,
  lockOptionsOf,
  namedHead,
  openStackBackend,
  sourceEncrypter,
} from "../context.js";
import { encrypterFromSpecs } from "../keys.js";
import { examples, keyOption, withLockTimeout } from "../options.js";
import { out, printJson, warn } from "../output.js";
import { withProgress } from "../progress.js";

export function registerMigrate(program: Command, ctx: CliContext): void {
  const migrate = program
    .command("migrate")
    .description(
      "copy every revision and the current one to another store, verify the copy; the source is never modified. A new target gets the source's head and revision names, unless --head names another (into a log, revisions are renamed in order)",
    )
    .requiredOption("--to <url>", "the target store URL (same --factory/--stack)")
    .addOption(
      keyOption(
        "--to-key-env <var>",
        "key-env",
        ctx.targetKeys,
        "re-seal the copy with this key (repeatable)",
      ),
    )
    .addOption(
      keyOption(
        "--to-passphrase-env <var>",
        "passphrase-env",
        ctx.targetKeys,
        "re-seal with this passphrase",
      ),
    )
    .addOption(keyOption("--to-kms-key-id <id>", "kms-key-id", ctx.targetKeys, "re-seal with this KMS key"))
    .option(
      "--json",
      "print JSON: {from, to, factory, stack, revisions, copied, alreadyPresent, current, verified, sourceAdvanced, renamed?}",
    );
  withLockTimeout(migrate).action(async (opts: { to: string; json?: boolean }, command: Command) => {
    const g = globalsOf(command);
    if (opts.to === g.store)
      throw new StateKeeperError("E_INVALID_ARGUMENT", "--to names the same store as --store");
    const source = await openStackBackend(g, sourceEncrypter(ctx, g));
    const targetEncrypter =
      encrypterFromSpecs(
        ctx.targetKeys,
        { endpoint: g.kmsEndpoint, region: g.kmsRegion },
        process.env,
        "to-",
      ) ?? sourceEncrypter(ctx, g);
    // A copy keeps the source's head (and so its revision names) unless another is named.
    const head = namedHead(command)?.head ?? (await backendInternals(source).headMode());
    const target = await openStackBackend({ ...g, head }, targetEncrypter, opts.to);
    const report = await withProgress((onProgress) =>
      migrateStack(source, target, { ...lockOptionsOf(g), onProgress }),
    );
    if (report.sourceAdvanced)
      warn("the source advanced during the migration; run migrate again to copy the rest");
    const summary = { from: describeStoreUrl(g.store), to: describeStoreUrl(opts.to), ...report };
    if (opts.json) return printJson(summary);
    out(
      `migrated ${report.factory}/${report.stack} to ${summary.to}: ${report.revisions} revisions ` +
        `(${report.copied} copied, ${report.alreadyPresent} already there), current ${report.current ?? "(none)"}; copy verified`,
    );
    if (report.renamed !== undefined)
      out(
        `the target is headed by a log: its revisions are named by their place (${Object.entries(
          report.renamed,
        )
          .slice(0, 3)
          .map(([from, to]) => `${from} → ${to}`)
          .join(", ")}${report.revisions > 3 ? ", …" : ""}; --json lists them all)`,
      );
  });
  examples(
    migrate,
    "migrate --to 's3://bucket/state?region=eu-west-1'",
    "migrate --to file:///backup/state --to-key-env NEW_KEY --json",
    "--head log migrate --to file:///new/state   # the copy is headed by a log (revisions renamed in order)",
  );
}
