import type { Command } from "commander";
import { inspectEnvelope, keyring, noopEncrypter } from "../../crypto/index.js";
import { isStateKeeperError } from "../../errors.js";
import { type CliContext, globalsOf, openStackBackend, sourceEncrypter, withStackLock } from "../context.js";
import { EXIT, exitCodeFor } from "../exit-codes.js";
import { examples, withLockTimeout } from "../options.js";
import { out, paint, printable, printJson, warn } from "../output.js";
import { progress } from "../progress.js";

interface Failure {
  rev: string;
  code: string;
  message: string;
  sealedWith: string | null;
}

function tally(counts: Record<string, number>, keyId: string): void {
  counts[keyId] = (counts[keyId] ?? 0) + 1;
}

export function registerRekey(program: Command, ctx: CliContext): void {
  const rekey = program
    .command("rekey")
    .description(
      "re-seal every revision with the primary (first) key of the given keyring; reports revisions it could not open",
    )
    .option("--from-unencrypted", "also open revisions stored unencrypted (to encrypt an existing history)")
    .option(
      "--json",
      "print JSON: {primary, revisions, resealed, alreadyOnPrimary, before: {keyId: count}, after: {keyId: count}, failed: [{rev, code, message, sealedWith}]}",
    );
  withLockTimeout(rekey).action(
    async (opts: { fromUnencrypted?: boolean; json?: boolean }, command: Command) => {
      const g = globalsOf(command);
      const base = sourceEncrypter(ctx, g);
      const encrypter = opts.fromUnencrypted ? keyring(base, noopEncrypter()) : base;
      const backend = await openStackBackend(g, encrypter);
      const result = await withStackLock(backend, g, "rekey", async (lock) => {
        const revs = await backend.list();
        const before: Record<string, number> = {};
        const after: Record<string, number> = {};
        const failed: Failure[] = [];
        let resealed = 0;
        const bar = progress("re-sealing", revs.length);
        try {
          for (const rev of revs) {
            if (lock.lost) throw lock.signal.reason;
            let sealedWith: string | null = null;
            try {
              sealedWith = inspectEnvelope(await backend.readSealed(rev)).keyId;
              tally(before, sealedWith);
              if (await backend.reseal(rev)) resealed++;
              tally(after, encrypter.keyId);
            } catch (e) {
              if (!isStateKeeperError(e) || exitCodeFor(e) !== EXIT.integrity) throw e;
              failed.push({ rev, code: e.code, message: e.message, sealedWith });
              if (sealedWith !== null) tally(after, sealedWith);
            }
            bar.tick();
          }
        } finally {
          bar.done();
        }
        return { revisions: revs.length, resealed, before, after, failed };
      });
      if (result.failed.length > 0) ctx.exitCode = EXIT.integrity;
      const alreadyOnPrimary = result.revisions - result.resealed - result.failed.length;
      if (opts.json) return printJson({ primary: encrypter.keyId, ...result, alreadyOnPrimary });
      const counts = (c: Record<string, number>) =>
        Object.entries(c)
          .map(([k, n]) => `${printable(k)} ×${n}`)
          .join(", ") || "(none)";
      out(`history was on: ${counts(result.before)}`);
      out(
        `re-sealed ${result.resealed} of ${result.revisions} revisions with ${printable(encrypter.keyId)} ` +
          `(${alreadyOnPrimary} already on it, ${result.failed.length} could not be opened)`,
      );
      for (const f of result.failed)
        warn(`${paint("red", "could not re-seal")} ${f.rev}: ${printable(f.message)}`);
    },
  );
  examples(
    rekey,
    "rekey --key-env NEW_KEY --key-env OLD_KEY",
    "rekey --kms-key-id alias/state-2026 --key-env OLD_KEY --json",
    "rekey --key-env NEW_KEY --from-unencrypted",
  );
}
