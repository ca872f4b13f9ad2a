import type { Command } from "commander";
import { rekeyStack } from "../../admin/index.js";
import { keyring, noopEncrypter } from "../../crypto/index.js";
import { type CliContext, globalsOf, lockOptionsOf, openStackBackend, sourceEncrypter } from "../context.js";
import { EXIT } from "../exit-codes.js";
import { examples, withLockTimeout } from "../options.js";
import { out, paint, printable, printJson, warn } from "../output.js";
import { withProgress } from "../progress.js";

export function registerRekey(program: Command, ctx: CliContext): void {
  const rekey = program
    .command("rekey")
    .description(
      "re-seal every revision with the primary (first) key of the given keyring; reports revisions it could not open",
    )
    .option("--from-unencrypted", "also open revisions stored unencrypted (to encrypt an existing history)")
    .option(
      "--json",
      "print JSON: {primary, revisions, resealed, alreadyOnPrimary, before: {keyId: count}, after: {keyId: count}, failed: [{rev, code, message, sealedWith}], chunks: {chunks, resealed, failed: [{chunk, code, message}]}}",
    );
  withLockTimeout(rekey).action(
    async (opts: { fromUnencrypted?: boolean; json?: boolean }, command: Command) => {
      const g = globalsOf(command);
      const base = sourceEncrypter(ctx, g);
      const encrypter = opts.fromUnencrypted ? keyring(base, noopEncrypter()) : base;
      const backend = await openStackBackend(g, encrypter);
      const result = await withProgress((onProgress) =>
        rekeyStack(backend, { ...lockOptionsOf(g), onProgress }),
      );
      if (result.failed.length > 0) ctx.exitCode = EXIT.integrity;
      if (opts.json) return printJson(result);
      const counts = (c: Record<string, number>) =>
        Object.entries(c)
          .map(([k, n]) => `${printable(k)} ×${n}`)
          .join(", ") || "(none)";
      out(`history was on: ${counts(result.before)}`);
      out(
        `re-sealed ${result.resealed} of ${result.revisions} revisions with ${printable(result.primary)} ` +
          `(${result.alreadyOnPrimary} already on it, ${result.failed.length} could not be opened)`,
      );
      for (const f of result.failed)
        warn(`${paint("red", "could not re-seal")} ${f.rev}: ${printable(f.message)}`);
      const { chunks } = result;
      if (chunks.chunks > 0)
        out(
          `re-sealed ${chunks.resealed} of ${chunks.chunks} chunks (${chunks.failed.length} could not be opened)`,
        );
      for (const f of chunks.failed)
        warn(`${paint("red", "could not re-seal")} chunk ${f.chunk}: ${printable(f.message)}`);
    },
  );
  examples(
    rekey,
    "rekey --key-env NEW_KEY --key-env OLD_KEY",
    "rekey --kms-key-id alias/state-2026 --key-env OLD_KEY --json",
    "rekey --key-env NEW_KEY --from-unencrypted",
  );
}
