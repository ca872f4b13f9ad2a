import { createHash } from "node:crypto";
import type { Command } from "commander";
import type { Backend } from "../../backend/index.js";
import { StateKeeperError } from "../../errors.js";
import { describeStoreUrl } from "../../objectstore/schemes.js";
import { encodeSnapshot } from "../../snapshot/index.js";
import { type CliContext, globalsOf, openStackBackend, sourceEncrypter, withStackLock } from "../context.js";
import { encrypterFromSpecs } from "../keys.js";
import { examples, keyOption, withLockTimeout } from "../options.js";
import { out, printJson, warn } from "../output.js";
import { progress } from "../progress.js";

const digestOf = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");

async function plaintextDigest(backend: Backend, rev: string): Promise<string> {
  return digestOf(encodeSnapshot(await backend.get(rev)));
}

function conflict(message: string): StateKeeperError {
  return new StateKeeperError("E_CONFLICT", `refusing to migrate: ${message}`);
}

export function registerMigrate(program: Command, ctx: CliContext): void {
  const migrate = program
    .command("migrate")
    .description(
      "copy every revision (same rev names) and the current pointer to another store, verify the copy; the source is never modified",
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
      "print JSON: {from, to, factory, stack, revisions, copied, alreadyPresent, current, verified, sourceAdvanced}",
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
    const target = await openStackBackend(g, targetEncrypter, opts.to);
    const name = `${source.factory}/${source.stack}`;

    const sourcePointer = await source.currentPointer();
    const revs = await source.list();
    if (revs.length === 0)
      throw new StateKeeperError(
        "E_NOT_FOUND",
        `nothing to migrate: ${name} has no revisions in ${describeStoreUrl(g.store)}`,
      );

    const result = await withStackLock(target, g, "migrate", async (lock) => {
      const inSource = new Set(revs);
      const existing = await target.list();
      const foreign = existing.filter((r) => !inSource.has(r));
      if (foreign.length > 0)
        throw conflict(
          `the target ${name} already has ${foreign.length} revision(s) the source lacks (first: ${foreign[0]})`,
        );
      const targetPointer = await target.currentPointer();
      if (targetPointer !== undefined && !inSource.has(targetPointer.rev))
        throw conflict(`the target's current rev ${targetPointer.rev} is not in the source's history`);

      // Compare every overlapping revision before writing anything, so a refusal leaves no partial copy.
      const digests = new Map<string, string>();
      const present = new Set(existing);
      for (const rev of existing) {
        const [a, b] = await Promise.all([plaintextDigest(source, rev), plaintextDigest(target, rev)]);
        if (a !== b) throw conflict(`revision ${rev} exists in the target with other content`);
        digests.set(rev, a);
      }

      const copying = progress("copying", revs.length);
      try {
        for (const rev of revs) {
          if (lock.lost) throw lock.signal.reason;
          if (!present.has(rev)) {
            // The parent travels with the revision, so verify follows the same line in the copy.
            const { snapshot, parentRevision } = await source.readRevision(rev);
            digests.set(rev, digestOf(encodeSnapshot(snapshot)));
            await target.importRevision(rev, snapshot, parentRevision);
          }
          copying.tick();
        }
      } finally {
        copying.done();
      }

      const checking = progress("verifying", revs.length);
      try {
        for (const rev of revs) {
          if ((await plaintextDigest(target, rev)) !== digests.get(rev))
            throw new StateKeeperError(
              "E_CORRUPT",
              `the copy of revision ${rev} does not read back identical`,
            );
          checking.tick();
        }
      } finally {
        checking.done();
      }

      if (sourcePointer !== undefined) {
        if (targetPointer?.rev !== sourcePointer.rev) await target.setCurrent(sourcePointer.rev);
        const current = digestOf(encodeSnapshot(await target.current()));
        if (current !== digests.get(sourcePointer.rev))
          throw new StateKeeperError(
            "E_CORRUPT",
            `the target's current does not read back as ${sourcePointer.rev}`,
          );
      }
      return { copied: revs.length - present.size, alreadyPresent: present.size };
    });

    const after = await source.currentPointer();
    const sourceAdvanced = after?.rev !== sourcePointer?.rev;
    if (sourceAdvanced)
      warn(`the source advanced to ${after?.rev} during the migration; run migrate again to copy the rest`);
    const summary = {
      from: describeStoreUrl(g.store),
      to: describeStoreUrl(opts.to),
      factory: source.factory,
      stack: source.stack,
      revisions: revs.length,
      ...result,
      current: sourcePointer?.rev ?? null,
      verified: true,
      sourceAdvanced,
    };
    if (opts.json) return printJson(summary);
    out(
      `migrated ${name} to ${summary.to}: ${revs.length} revisions (${result.copied} copied, ${result.alreadyPresent} already there), ` +
        `current ${summary.current ?? "(none)"}; copy verified`,
    );
  });
  examples(
    migrate,
    "migrate --to 's3://bucket/state?region=eu-west-1'",
    "migrate --to file:///backup/state --to-key-env NEW_KEY --json",
  );
}
