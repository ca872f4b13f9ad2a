import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import { rollbackStack } from "../../admin/rollback.js";
import { isStateKeeperError, StateKeeperError } from "../../errors.js";
import { decodeSnapshot, type Snapshot } from "../../snapshot/index.js";
import {
  type CliContext,
  globalsOf,
  lockOptionsOf,
  openStackBackend,
  sourceEncrypter,
  withStackLock,
} from "../context.js";
import { examples, withLockTimeout } from "../options.js";
import { out, printable, printJson } from "../output.js";
import { currentOrNull, resolveRev } from "../revs.js";

async function readInput(file: string): Promise<Uint8Array> {
  try {
    if (file !== "-") return await readFile(file);
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? "read failed";
    throw new StateKeeperError("E_INVALID_ARGUMENT", `cannot read ${printable(file)}: ${why}`, { cause: e });
  }
}

function parseInput(file: string, bytes: Uint8Array): Snapshot {
  try {
    return decodeSnapshot(bytes);
  } catch (e) {
    if (!isStateKeeperError(e)) throw e;
    const name = file === "-" ? "stdin" : printable(file);
    throw new StateKeeperError("E_INVALID_ARGUMENT", `${name} is not a valid snapshot: ${e.message}`, {
      cause: e,
    });
  }
}

export function registerPush(program: Command, ctx: CliContext): void {
  const push = program
    .command("push <file>")
    .description(
      "validate a snapshot file (or - for stdin), lock, commit it as a new revision, unlock; prints the new rev",
    )
    .option("--expect-current <rev>", "refuse (exit 4) unless this is still the current rev")
    .option("--json", "print JSON: {rev, previous}");
  withLockTimeout(push).action(
    async (file: string, opts: { expectCurrent?: string; json?: boolean }, command: Command) => {
      const g = globalsOf(command);
      const snapshot = parseInput(file, await readInput(file));
      const backend = await openStackBackend(g, sourceEncrypter(ctx, g));
      if (snapshot.stack !== backend.stack || snapshot.factory.name !== backend.factory)
        throw new StateKeeperError(
          "E_INVALID_ARGUMENT",
          `refusing to push: the file is a snapshot of ${printable(snapshot.factory.name)}/${printable(snapshot.stack)}, ` +
            `not of ${backend.factory}/${backend.stack} (check --factory/--stack)`,
        );
      const { rev, previous } = await withStackLock(backend, g, "push", async () => {
        const previous = await currentOrNull(backend);
        if (opts.expectCurrent !== undefined && opts.expectCurrent !== previous)
          throw new StateKeeperError(
            "E_CONFLICT",
            `refusing to push: the current rev is ${previous ?? "(none)"}, not ${printable(opts.expectCurrent)}`,
          );
        return { rev: await backend.commit(snapshot), previous };
      });
      if (opts.json) printJson({ rev, previous });
      else out(rev);
    },
  );
  examples(
    push,
    "push state.json",
    "pull | jq … | statekeeper push -",
    "push state.json --lock-timeout 2m --json",
  );

  const rollback = program
    .command("rollback")
    .description("commit a NEW revision with the content of an older one (history is never rewritten)")
    .requiredOption("--to <rev>", "the revision whose content becomes current (a rev, or current~N)")
    .option(
      "--repair",
      "commit even though the current revision fails verification or cannot be opened with the given key (replaces it; history keeps it)",
    )
    .option("--json", "print JSON: {rev, from, previous}");
  withLockTimeout(rollback).action(
    async (opts: { to: string; repair?: boolean; json?: boolean }, command: Command) => {
      const g = globalsOf(command);
      const backend = await openStackBackend(g, sourceEncrypter(ctx, g));
      const result = await rollbackStack(backend, () => resolveRev(backend, opts.to), {
        ...lockOptionsOf(g),
        repair: opts.repair === true,
      });
      if (opts.json) printJson(result);
      else if (result.unchanged) out(`${result.from} is already the current revision; nothing committed`);
      else out(result.rev);
    },
  );
  examples(
    rollback,
    "rollback --to 2026-05-12T15:30:00.123456789Z",
    "rollback --to current~1 --json",
    "rollback --to 2026-05-12T15:30:00.123456789Z --repair   # current fails verify",
  );
}
