import { type Command, Option } from "commander";
import { importUnobinStack } from "../../admin/index.js";
import { NOOP_KEY_ID } from "../../crypto/index.js";
import { StateKeeperError } from "../../errors.js";
import { describeStoreUrl, openStore } from "../../objectstore/schemes.js";
import { openUnobinStack, unobinEnvKeyEncrypter, unobinNoopEncrypter } from "../../unobin/index.js";
import {
  type CliContext,
  globalsOf,
  lockOptionsOf,
  namedHead,
  openStackBackend,
  sourceEncrypter,
} from "../context.js";
import { examples, withLockTimeout } from "../options.js";
import { out, printable, printJson, warn } from "../output.js";
import { withProgress } from "../progress.js";

interface ImportOptions {
  from: string;
  fromLayout: "unobin";
  fromKeyEnv?: string;
  allowUnencrypted?: boolean;
  json?: boolean;
}

export function registerImport(program: Command, ctx: CliContext): void {
  const cmd = program
    .command("import")
    .description(
      "import a stack unobin's localstate (a folder) or s3state (a bucket) wrote: every revision under its own rev name, then its current; verified; the source is never modified. A new target stack gets a current pointer (a log cannot keep unobin's names; migrate it into one afterwards)",
    )
    .requiredOption(
      "--from <url>",
      "where unobin kept state: file:/path (localstate's path) or s3://bucket/prefix",
    )
    .addOption(
      new Option("--from-layout <layout>", "how the source is laid out")
        .choices(["unobin"])
        .default("unobin"),
    )
    .option(
      "--from-key-env <var>",
      "unobin sealed the snapshots with its env-key encrypter, key in env VAR (default: its noop encrypter)",
    )
    .option(
      "--allow-unencrypted",
      "store snapshots unobin had encrypted without a statekeeper key (refused otherwise)",
    )
    .option(
      "--json",
      "print JSON: {from, to, factory, stack, revisions, imported, alreadyPresent, current, shapes, storedAs, sealing, openedWith, verified, sourceAdvanced}",
    );
  withLockTimeout(cmd).action(async (opts: ImportOptions, command: Command) => {
    const g = globalsOf(command);
    if (opts.from === g.store)
      throw new StateKeeperError("E_INVALID_ARGUMENT", "--from names the same store as --store");
    const unobinEncrypter =
      opts.fromKeyEnv === undefined
        ? unobinNoopEncrypter()
        : unobinEnvKeyEncrypter({ envVar: opts.fromKeyEnv });
    const targetEncrypter = sourceEncrypter(ctx, g);
    if (
      unobinEncrypter.name !== "noop" &&
      targetEncrypter.keyId === NOOP_KEY_ID &&
      opts.allowUnencrypted !== true
    )
      throw new StateKeeperError(
        "E_INVALID_CONFIG",
        "unobin encrypted these snapshots, and no statekeeper key was given: the import would store them unencrypted. " +
          `Give a key (--key-env ${opts.fromKeyEnv ?? "VAR"} keeps the same one, or set STATEKEEPER_KEY), or pass --allow-unencrypted`,
      );
    const target = await openStackBackend({ ...g, head: importHead(command) }, targetEncrypter);
    const source = openUnobinStack(await openStore(opts.from), {
      factory: target.factory,
      stack: target.stack,
      encrypter: unobinEncrypter,
    });
    const report = await withProgress((onProgress) =>
      importUnobinStack(source, target, { ...lockOptionsOf(g), onProgress }),
    );
    if (report.sourceAdvanced)
      warn("unobin's stack changed (or was locked) during the import; run import again to take the rest");
    const summary = { from: describeStoreUrl(opts.from), to: describeStoreUrl(g.store), ...report };
    if (opts.json) return printJson(summary);
    const kept =
      report.storedAs.document === 0 ? "" : `, ${report.storedAs.document} kept as unobin documents`;
    out(
      `imported ${report.factory}/${report.stack} from ${printable(summary.from)} (opened with ${printable(report.openedWith)}): ` +
        `${report.revisions} revisions (${report.imported} imported, ${report.alreadyPresent} already there${kept}), ` +
        `current ${report.current ?? "(none)"}; import verified`,
    );
  });
  examples(
    cmd,
    "import --from file:///var/lib/unobin/state --factory webshop --stack prod",
    "import --from 's3://unobin-state/prefix?region=eu-west-1' --from-key-env UNOBIN_STATE_KEY --key-env UNOBIN_STATE_KEY --json",
  );
}

/**
 * An import keeps unobin's revision names, which only a stack with a current pointer holds (a
 * log names revisions by their place): a new target stack gets a pointer, whatever the default
 * head; asking for a log by name is refused before any I/O.
 */
function importHead(command: Command): "pointer" {
  const named = namedHead(command);
  if (named?.head === "log")
    throw new StateKeeperError(
      "E_INVALID_ARGUMENT",
      `import keeps unobin's revision names, which a stack headed by a log cannot hold (it names revisions by their place): drop ${named.named}, import, then move the stack into a log with "statekeeper --head log migrate --to <store>"`,
    );
  return "pointer";
}
