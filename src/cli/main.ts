import { VERSION } from "../version.js";

/** Entry point of the `statekeeper` command. Returns the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const args = argv.slice(2);
  if (args.includes("--version") || args.includes("-V")) {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  process.stdout.write(
    `statekeeper ${VERSION}: versioned, locked, encrypted state storage\n\nUsage: statekeeper <command> [options]\n`,
  );
  return args.length === 0 || args.includes("--help") || args.includes("-h") ? 0 : 2;
}
