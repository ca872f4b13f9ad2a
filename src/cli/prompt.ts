import { createInterface } from "node:readline/promises";
import { StateKeeperError } from "../errors.js";

/**
 * Asks before a destructive step. `--yes` skips the question; without a terminal to ask on and
 * without `--yes` the command is refused (a usage error) rather than guessed.
 */
export async function confirm(question: string, yes: boolean | undefined): Promise<boolean> {
  if (yes === true) return true;
  if (process.stdin.isTTY !== true)
    throw new StateKeeperError(
      "E_INVALID_ARGUMENT",
      `${question.replace(/\?$/, "")}: refusing without confirmation; stdin is not a terminal, pass --yes`,
    );
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`${question} [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}
