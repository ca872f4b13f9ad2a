import { resolve } from "node:path";
import type { Command } from "commander";
import { listStacks } from "../../admin/index.js";
import { importAlchemyFolder } from "../../alchemy/import.js";
import {
  alchemyResourceHistory,
  listAlchemyResources,
  restoreAlchemyResource,
} from "../../alchemy/inspect.js";
import { createBackend, validateName } from "../../backend/index.js";
import { StateKeeperError } from "../../errors.js";
import { openStore } from "../../objectstore/schemes.js";
import {
  type CliContext,
  type GlobalOptions,
  globalsOf,
  lockTimeoutMs,
  sourceEncrypter,
} from "../context.js";
import { examples, withLockTimeout } from "../options.js";
import { out, paint, printable, printJson, printTable } from "../output.js";
import { resolveRev } from "../revs.js";

// What `statekeeperStateStore` (statekeeper/alchemy) keeps: one stack per Alchemy app/stage,
// factory = the app, stack = the stage. These commands read it without Alchemy; `import` fills it
// from Alchemy's own `.alchemy/` folder. They import only the parts of src/alchemy that do not
// need the alchemy package.

interface AppStage {
  app?: string;
  stage?: string;
}

function appOf(opts: AppStage, g: GlobalOptions): string {
  const app = opts.app ?? g.factory;
  if (app === undefined) throw usage("--app NAME (the Alchemy app name)");
  return validateName("Alchemy app name", app);
}

function stageOf(opts: AppStage, g: GlobalOptions): string {
  const stage = opts.stage ?? g.stack;
  if (stage === undefined) throw usage("--stage NAME (the Alchemy stage)");
  return validateName("Alchemy stage", stage);
}

function usage(what: string): StateKeeperError {
  return new StateKeeperError("E_INVALID_ARGUMENT", `this command needs ${what}`);
}

export function registerAlchemy(program: Command, ctx: CliContext): void {
  const alchemy = program
    .command("alchemy")
    .description("Alchemy apps kept by statekeeper/alchemy: stages, resources, a resource's history, import");

  const openStage = async (opts: AppStage, command: Command) => {
    const g = globalsOf(command);
    const app = appOf(opts, g);
    const stage = stageOf(opts, g);
    return createBackend(await openStore(g.store), {
      factory: app,
      stack: stage,
      encrypter: sourceEncrypter(ctx, g),
    });
  };

  alchemy
    .command("stages")
    .description("the stages of an Alchemy app (all apps without --app): revisions and lock")
    .option("--app <name>", "the Alchemy app (default: --factory)")
    .option("--json", "print JSON: {stages: [{app, stage, revisions, current, locked, holder}]}")
    .action(async (opts: AppStage & { json?: boolean }, command: Command) => {
      const g = globalsOf(command);
      const app = opts.app ?? g.factory;
      if (app !== undefined) validateName("Alchemy app name", app);
      const rows = (await listStacks(await openStore(g.store))).filter(
        (r) => app === undefined || r.factory === app,
      );
      const stages = rows.map((r) => ({
        app: r.factory,
        stage: r.stack,
        revisions: r.revisions,
        current: r.current,
        locked: r.holder !== null,
        holder: r.holder,
      }));
      if (opts.json) return printJson({ stages });
      if (stages.length === 0)
        return out(app === undefined ? "no stacks in this store" : `no stages of ${app}`);
      printTable(
        ["APP", "STAGE", "REVISIONS", "LOCK"],
        stages.map((s) => [
          printable(s.app),
          printable(s.stage),
          String(s.revisions),
          s.holder === null
            ? "-"
            : paint(
                "yellow",
                `deploying: ${printable(s.holder.user)}@${printable(s.holder.host)} pid ${s.holder.pid}`,
              ),
        ]),
      );
    });

  alchemy
    .command("resources")
    .description("the resources of a stage's current state: address, kind, status")
    .option("--app <name>", "the Alchemy app (default: --factory)")
    .option("--stage <name>", "the stage (default: --stack)")
    .option("--json", "print JSON: {app, stage, resources: [{address, kind, status, fqn, seq}]}")
    .action(async (opts: AppStage & { json?: boolean }, command: Command) => {
      const backend = await openStage(opts, command);
      const resources = await listAlchemyResources(backend);
      if (opts.json) return printJson({ app: backend.factory, stage: backend.stack, resources });
      if (resources.length === 0) return out(`no resources in ${backend.factory}/${backend.stack}`);
      printTable(
        ["ADDRESS", "KIND", "STATUS"],
        resources.map((r) => [printable(r.address), printable(r.kind), printable(r.status ?? "")]),
      );
    });

  const history = alchemy
    .command("history")
    .description("every state a resource had, oldest first: one row per revision that changed it")
    .argument("<address>", "the resource (nested scopes joined by ':', as `alchemy resources` shows)")
    .option("--app <name>", "the Alchemy app (default: --factory)")
    .option("--stage <name>", "the stage (default: --stack)")
    .option("--json", "print JSON: {address, versions: [{rev, change, status, state?}]}")
    .action(async (address: string, opts: AppStage & { json?: boolean }, command: Command) => {
      const backend = await openStage(opts, command);
      const versions = await alchemyResourceHistory(backend, address);
      if (opts.json) return printJson({ address, versions });
      if (versions.length === 0)
        return out(`${address} never existed in ${backend.factory}/${backend.stack}`);
      printTable(
        ["REV", "CHANGE", "STATUS"],
        versions.map((v) => [v.rev, v.change, printable(v.status ?? "")]),
      );
    });
  examples(history, "alchemy history --app my-app --stage prod website");

  const restore = withLockTimeout(
    alchemy
      .command("restore")
      .description(
        "put back the state a resource had in an earlier revision (a new revision, under the lock)",
      )
      .argument("<address>", "the resource")
      .requiredOption("--rev <rev>", "the revision to restore from (a rev, current~N)")
      .option("--app <name>", "the Alchemy app (default: --factory)")
      .option("--stage <name>", "the stage (default: --stack)"),
  ).action(async (address: string, opts: AppStage & { rev: string }, command: Command) => {
    const backend = await openStage(opts, command);
    const rev = await resolveRev(backend, opts.rev);
    const made = await restoreAlchemyResource(backend, address, rev, {
      lockTimeoutMs: lockTimeoutMs(globalsOf(command)),
    });
    out(`restored ${printable(address)} from ${rev}: new revision ${made}`);
  });
  examples(restore, "alchemy restore --app my-app --stage prod website --rev current~3");

  const imp = withLockTimeout(
    alchemy
      .command("import")
      .description("import an Alchemy .alchemy/ folder (FileSystemStateStore) into statekeeper, verified")
      .option("--from <dir>", "the .alchemy folder", ".alchemy")
      .option("--app <name>", "the Alchemy app (default: --factory)")
      .option("--stage <name...>", "only these stages (default: every stage folder)")
      .option("--json", "print JSON: {app, stages: [{stage, resources, rev}]}"),
  ).action(
    async (opts: { from: string; app?: string; stage?: string[]; json?: boolean }, command: Command) => {
      const g = globalsOf(command);
      const app = appOf(opts.app === undefined ? {} : { app: opts.app }, g);
      const store = await openStore(g.store);
      const encrypter = sourceEncrypter(ctx, g);
      const report = await importAlchemyFolder(
        resolve(opts.from),
        app,
        (stage) => createBackend(store, { factory: app, stack: stage, encrypter }),
        { lockTimeoutMs: lockTimeoutMs(g), ...(opts.stage === undefined ? {} : { stages: opts.stage }) },
      );
      if (opts.json) return printJson(report);
      for (const s of report.stages)
        out(
          `imported ${printable(app)}/${printable(s.stage)}: ${s.resources} entries, verified (rev ${s.rev})`,
        );
    },
  );
  examples(
    imp,
    "alchemy import --from ./.alchemy --app my-app",
    "--store s3://bucket/state alchemy import --app my-app --stage prod",
  );
}
