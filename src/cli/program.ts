import { Command, Option } from "commander";
import { VERSION } from "../version.js";
import { registerAlchemy } from "./commands/alchemy.js";
import { registerDiff } from "./commands/diff.js";
import { registerHistory } from "./commands/history.js";
import { registerImport } from "./commands/import.js";
import { registerLock } from "./commands/lock.js";
import { registerMigrate } from "./commands/migrate.js";
import { registerProbe } from "./commands/probe.js";
import { registerPrune } from "./commands/prune.js";
import { registerPush } from "./commands/push.js";
import { registerRecords } from "./commands/records.js";
import { registerRekey } from "./commands/rekey.js";
import { registerServe } from "./commands/serve.js";
import { registerStacks } from "./commands/stacks.js";
import { registerVerify } from "./commands/verify.js";
import type { CliContext } from "./context.js";
import { EXIT_CODE_HELP } from "./exit-codes.js";
import { keyOption } from "./options.js";

export const DEFAULT_STORE = "file:./.statekeeper";

const GLOBAL_HELP = `
Store URLs:
  file:./.statekeeper (default), file:///abs/path, memory://name (this process only),
  s3://bucket/prefix?region=eu-west-1&endpoint=https://…&forcePathStyle=true (AWS credential chain)

Keys (repeat or mix them for a keyring; the first one given seals, all of them open):
  --key-env VAR          a base64 256-bit key in env VAR   (default: $STATEKEEPER_KEY when set)
  --passphrase-env VAR   a passphrase (16+ characters) in env VAR
  --kms-key-id ID        an AWS KMS key (with --kms-endpoint / --kms-region)
  Without any key option and without STATEKEEPER_KEY, snapshots are stored unencrypted.

Environment:
  STATEKEEPER_STORE, STATEKEEPER_FACTORY, STATEKEEPER_STACK  defaults for --store, --factory, --stack
  NO_COLOR=1  plain output;  STATEKEEPER_DEBUG=1  stack traces on errors

${EXIT_CODE_HELP}

Examples:
  $ export STATEKEEPER_FACTORY=webshop STATEKEEPER_STACK=prod
  $ statekeeper push examples/webshop-v1.json
  $ statekeeper history
  $ statekeeper diff 2026-05-12T15:30:00.123456789Z current
  $ statekeeper rollback --to 2026-05-12T15:30:00.123456789Z
  $ statekeeper --store 's3://my-bucket/state?region=eu-west-1' stacks --json
`;

/** The `statekeeper` command tree. `ctx` collects the key options as they are parsed. */
export function buildProgram(ctx: CliContext): Command {
  const program = new Command("statekeeper")
    .description("Versioned, locked, encrypted state storage for infrastructure-as-code engines.")
    .version(VERSION, "-V, --version", "print the version")
    .addOption(
      new Option("--store <url>", "where state lives").env("STATEKEEPER_STORE").default(DEFAULT_STORE),
    )
    .addOption(new Option("--factory <name>", "the factory (stack definition)").env("STATEKEEPER_FACTORY"))
    .addOption(new Option("--stack <name>", "the stack (deployment)").env("STATEKEEPER_STACK"))
    .addOption(keyOption("--key-env <var>", "key-env", ctx.keys, "env var holding a base64 key (repeatable)"))
    .addOption(
      keyOption(
        "--passphrase-env <var>",
        "passphrase-env",
        ctx.keys,
        "env var holding a passphrase (repeatable)",
      ),
    )
    .addOption(keyOption("--kms-key-id <id>", "kms-key-id", ctx.keys, "AWS KMS key id or ARN (repeatable)"))
    .addOption(
      new Option(
        "--layout <layout>",
        "unobin: read what unobin's localstate/s3state wrote at --store, in place and read-only (history, show, diff, pull); " +
          "spaces: records commands use DigitalOcean's Spaces state store's keys",
      )
        .choices(["statekeeper", "unobin", "spaces"])
        .default("statekeeper"),
    )
    .addOption(
      new Option(
        "--head <head>",
        "the head a NEW stack gets: log (create-only entries: one write per commit, no If-Match needed) or " +
          "pointer (a current object moved by compare-and-swap); an existing stack keeps its own",
      )
        .choices(["pointer", "log"])
        .env("STATEKEEPER_HEAD")
        .default("log"),
    )
    .option(
      "--unobin-key-env <var>",
      "with --layout unobin: unobin's env-key encrypter, key in env VAR (default: its noop)",
    )
    .option("--kms-endpoint <url>", "KMS endpoint (for KMS-compatible servers)")
    .option("--kms-region <region>", "KMS region")
    .showHelpAfterError("(add --help for usage)")
    .addHelpText("after", GLOBAL_HELP)
    .exitOverride()
    .configureOutput({
      outputError: (text, write) => write(`statekeeper: ${text.replace(/^error: /, "")}`),
    });

  registerStacks(program, ctx);
  registerHistory(program, ctx);
  registerPush(program, ctx);
  registerDiff(program, ctx);
  registerLock(program, ctx);
  registerPrune(program, ctx);
  registerVerify(program, ctx);
  registerMigrate(program, ctx);
  registerImport(program, ctx);
  registerRekey(program, ctx);
  registerProbe(program, ctx);
  registerRecords(program, ctx);
  registerServe(program, ctx);
  registerAlchemy(program, ctx);
  return program;
}
