import { CommanderError } from "commander";
import { isStateKeeperError } from "../errors.js";
import type { CliContext } from "./context.js";
import { EXIT, exitCodeFor } from "./exit-codes.js";
import { buildProgram } from "./program.js";

function describeError(e: unknown): string {
  if (process.env.STATEKEEPER_DEBUG === "1" && e instanceof Error) {
    const chain: string[] = [e.stack ?? e.message];
    for (let c: unknown = e.cause; c instanceof Error; c = c.cause)
      chain.push(`caused by: ${c.stack ?? c.message}`);
    return chain.join("\n");
  }
  if (isStateKeeperError(e) || e instanceof Error) return e.message;
  return String(e);
}

/** Entry point of the `statekeeper` command. Returns the process exit code; never throws. */
export async function main(argv: readonly string[]): Promise<number> {
  // `statekeeper pull | head` closes the pipe early: that is not an error worth a trace.
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code !== "EPIPE") throw e;
  });
  const ctx: CliContext = { keys: [], targetKeys: [], exitCode: EXIT.ok };
  const program = buildProgram(ctx);
  try {
    await program.parseAsync([...argv]);
    return ctx.exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander already printed the help, the version or the usage error.
      return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    process.stderr.write(`statekeeper: ${describeError(e)}\n`);
    return exitCodeFor(e);
  }
}
