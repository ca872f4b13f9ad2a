import { type Command, Option } from "commander";
import type { KeySpec } from "./keys.js";

/** A repeatable key option whose values also land, in command-line order, in `into`. */
export function keyOption(flag: string, kind: KeySpec["kind"], into: KeySpec[], description: string): Option {
  return new Option(flag, description).argParser((value: string, previous: string[] | undefined) => {
    into.push({ kind, value });
    return [...(previous ?? []), value];
  });
}

/** `--lock-timeout` for the commands that take the stack's lock. */
export function withLockTimeout(cmd: Command): Command {
  return cmd.option(
    "--lock-timeout <duration>",
    "how long to wait for the lock (30s, 2m, 0 = no wait)",
    "30s",
  );
}

/** Examples under a command's `--help`. */
export function examples(cmd: Command, ...lines: string[]): Command {
  return cmd.addHelpText("after", `\nExamples:\n${lines.map((l) => `  $ statekeeper ${l}`).join("\n")}\n`);
}
