import type { Command } from "commander";
import { describeHolder } from "../../backend/index.js";
import { type LockHolder, StateKeeperError } from "../../errors.js";
import { holderFields } from "../../lock/lease.js";
import { openStore } from "../../objectstore/schemes.js";
import {
  type IaCState,
  migrateRecordKeys,
  openRecordStore,
  type RecordFilter,
  type RecordStore,
} from "../../records/index.js";
import { type CliContext, explicitEncrypter, globalsOf } from "../context.js";
import { EXIT } from "../exit-codes.js";
import { examples } from "../options.js";
import { out, paint, printable, printJson, printTable, warn } from "../output.js";
import { withProgress } from "../progress.js";
import { confirm } from "../prompt.js";

const holderJson = (h: LockHolder | undefined) => (h === undefined ? null : holderFields(h));

export function registerRecords(program: Command, ctx: CliContext): void {
  const records = program
    .command("records")
    .description(
      "per-resource state records (IaCState): list, get, delete, lock, unlock, migrate-keys; --layout spaces opens DigitalOcean's Spaces keys",
    )
    .option("--prefix <prefix>", "folder of the records in the store", "iac-state/");
  examples(
    records,
    "records list --provider aws",
    "records get vpc-main --json",
    "records lock vpc-main",
    "--layout spaces records list",
  );

  /** `--layout spaces`: DigitalOcean's Spaces keys; unobin has no records. Refused before any I/O. */
  const layoutOf = (command: Command): "statekeeper" | "spaces" => {
    const { layout } = globalsOf(command);
    if (layout === "unobin")
      throw new StateKeeperError(
        "E_INVALID_ARGUMENT",
        "--layout unobin is for stacks; records take --layout statekeeper (default) or spaces",
      );
    return layout ?? "statekeeper";
  };

  /** Records are sealed only when a key option is given: the engines write them as plain JSON. */
  const open = async (command: Command): Promise<RecordStore> => {
    const g = globalsOf(command);
    const layout = layoutOf(command);
    const prefix = command.optsWithGlobals<{ prefix: string }>().prefix;
    const encrypter = explicitEncrypter(ctx, g);
    return openRecordStore(g.store, { prefix, layout, ...(encrypter === undefined ? {} : { encrypter }) });
  };

  const list = records
    .command("list")
    .description(
      "records matching every filter given (all without filters); unreadable records are reported, exit 5",
    )
    .option("--type <type>", "resource_type equals")
    .option("--provider <provider>", "provider equals")
    .option(
      "--status <status>",
      "status equals (planned, provisioning, active, destroying, destroyed, error, or any other status)",
    )
    .option("--json", "print JSON: {records: [IaCState], unreadable: [{id, key, code, message}]}")
    .action(
      async (
        opts: { type?: string; provider?: string; status?: string; json?: boolean },
        command: Command,
      ) => {
        const store = await open(command);
        const filter: Record<string, string> = {};
        if (opts.type !== undefined) filter.resource_type = opts.type;
        if (opts.provider !== undefined) filter.provider = opts.provider;
        if (opts.status !== undefined) filter.status = opts.status;
        const found = await store.list(filter as RecordFilter);
        const unreadable = found.unreadable.map((u) => ({
          id: u.id ?? null,
          key: u.key,
          code: u.error.code,
          message: u.error.message,
        }));
        if (unreadable.length > 0) ctx.exitCode = EXIT.integrity;
        if (opts.json) return printJson({ records: found.records.map((r) => r.state), unreadable });
        if (found.records.length === 0) out("no matching records");
        else
          printTable(
            ["ID", "TYPE", "PROVIDER", "STATUS", "UPDATED"],
            found.records.map(({ state: s }) => [
              printable(s.resource_id),
              printable(s.resource_type),
              printable(s.provider),
              s.status === "error" ? paint("red", s.status) : s.status,
              printable(s.updated_at),
            ]),
          );
        for (const u of unreadable)
          warn(`unreadable record ${printable(u.id ?? u.key)}: ${printable(u.message)}`);
      },
    );
  examples(list, "records list", "records list --type kubernetes --status active --json");

  const get = records
    .command("get <id>")
    .description("one record, with its lock holder if it is locked")
    .option("--json", "print JSON: {record: IaCState, etag, lock: holder | null}")
    .action(async (id: string, opts: { json?: boolean }, command: Command) => {
      const store = await open(command);
      const [found, holder] = await Promise.all([store.get(id), store.lockInfo(id)]);
      if (found === undefined)
        throw new StateKeeperError("E_NOT_FOUND", `no record ${JSON.stringify(printable(id))}`, {
          details: { id },
        });
      if (opts.json) return printJson({ record: found.state, etag: found.etag, lock: holderJson(holder) });
      printRecord(found.state, holder);
    });
  examples(get, "records get vpc-main", "records get 'team/a b' --json");

  const del = records
    .command("delete <id>")
    .description("remove a record (asks first unless --yes); its lock is left alone")
    .option("-y, --yes", "do not ask; required when stdin is not a terminal")
    .option("--json", "print JSON: {deleted, id}")
    .action(async (id: string, opts: { yes?: boolean; json?: boolean }, command: Command) => {
      const store = await open(command);
      if (!(await confirm(`delete record ${JSON.stringify(printable(id))}?`, opts.yes))) {
        if (opts.json) return printJson({ deleted: false, id });
        return out("record left in place");
      }
      await store.delete(id);
      if (opts.json) return printJson({ deleted: true, id });
      out(`deleted record ${printable(id)}`);
    });
  examples(del, "records delete old-bucket --yes");

  const lock = records
    .command("lock <id>")
    .description("take the resource's lock without waiting (exit 3 when held); prints the lock id for unlock")
    .option("--operation <what>", "what the holder is doing, shown to others", "cli")
    .option("--json", "print JSON: {id, lockId, holder}")
    .action(async (id: string, opts: { operation: string; json?: boolean }, command: Command) => {
      const store = await open(command);
      const held = await store.lock(id, { operation: opts.operation });
      if (opts.json) return printJson({ id, lockId: held.id, holder: holderFields(held.holder) });
      out(held.id);
    });
  examples(
    lock,
    "records lock vpc-main",
    'LOCK=$(statekeeper records lock vpc-main) && … && statekeeper records unlock vpc-main --lock-id "$LOCK"',
  );

  const unlock = records
    .command("unlock <id>")
    .description(
      "release a lock taken by `records lock`, given its lock id (another holder's lock is left alone, exit 3); " +
        "without --lock-id, the force form (what DigitalOcean's Unlock did): removes whichever lock is there (asks first unless --yes), not locked → exit 1",
    )
    .option("--lock-id <lockId>", "the id `records lock` printed")
    .option("-y, --yes", "force form: do not ask; required when stdin is not a terminal")
    .option("--json", "print JSON: {id, unlocked, holder}")
    .action(
      async (id: string, opts: { lockId?: string; yes?: boolean; json?: boolean }, command: Command) => {
        const store = await open(command);
        if (opts.lockId === undefined && !(await confirmRemoval(store, id, opts.yes))) {
          if (opts.json)
            return printJson({ id, unlocked: false, holder: holderJson(await lockOf(store, id)) });
          return out("lock left in place");
        }
        const holder = await store.unlock(id, opts.lockId);
        if (opts.json) return printJson({ id, unlocked: true, holder: holderJson(holder) });
        out(
          holder === undefined
            ? `unlocked ${printable(id)}`
            : `unlocked ${printable(id)} (was held by ${printable(describeHolder(holder))})`,
        );
      },
    );
  examples(
    unlock,
    "records unlock vpc-main --lock-id 3f9a…",
    "--layout spaces records unlock vpc-main --yes",
  );

  const force = records
    .command("force-unlock <id>")
    .description("remove the resource's lock whoever holds it (asks first unless --yes)")
    .option("-y, --yes", "do not ask; required when stdin is not a terminal")
    .option("--json", "print JSON: {id, removed, holder}")
    .action(async (id: string, opts: { yes?: boolean; json?: boolean }, command: Command) => {
      const store = await open(command);
      if (!(await confirmRemoval(store, id, opts.yes))) {
        if (opts.json) return printJson({ id, removed: false, holder: holderJson(await lockOf(store, id)) });
        return out("lock left in place");
      }
      const holder = await store.forceUnlock(id);
      if (opts.json) return printJson({ id, removed: holder !== undefined, holder: holderJson(holder) });
      out(
        holder === undefined
          ? `${printable(id)} was not locked`
          : `removed the lock held by ${printable(describeHolder(holder))}`,
      );
    });
  examples(force, "records force-unlock vpc-main --yes");

  const migrateKeys = records
    .command("migrate-keys")
    .description(
      "move records from DigitalOcean's Spaces keys (/ and \\ turned into _) to statekeeper's lossless keys, in the same folder: " +
        "each copy is read back and compared before its source is removed; rerun to resume; exit 4 when records were left in place",
    )
    .option("--dry-run", "only report what would move; write nothing")
    .option(
      "--json",
      "print JSON: {prefix, dryRun, scanned, moved: [{id, from, to}], alreadyLossless, skipped: [{id, key, code, reason}], complete}",
    )
    .action(async (opts: { dryRun?: boolean; json?: boolean }, command: Command) => {
      const g = globalsOf(command);
      if (g.layout === "unobin")
        throw new StateKeeperError(
          "E_INVALID_ARGUMENT",
          "records migrate-keys reads both record layouts itself; drop --layout unobin",
        );
      const prefix = command.optsWithGlobals<{ prefix: string }>().prefix;
      const encrypter = explicitEncrypter(ctx, g);
      const store = await openStore(g.store);
      const report = await withProgress((onProgress) =>
        migrateRecordKeys(store, {
          prefix,
          dryRun: opts.dryRun === true,
          onProgress,
          ...(encrypter === undefined ? {} : { encrypter }),
        }),
      );
      if (!report.complete) ctx.exitCode = EXIT.conflict;
      if (opts.json) return printJson(report);
      const verb = report.dryRun ? "would move" : "moved";
      for (const m of report.moved)
        out(`${verb} ${printable(m.id)}: ${printable(m.from)} -> ${printable(m.to)}`);
      out(
        `${verb} ${report.moved.length} of ${report.scanned} records (${report.alreadyLossless} already at lossless keys, ${report.skipped.length} left in place)` +
          (report.dryRun ? "" : "; every copy verified before its source was removed"),
      );
      for (const sk of report.skipped)
        warn(`left in place ${printable(sk.id ?? sk.key)} (${sk.code}): ${printable(sk.reason)}`);
    });
  examples(
    migrateKeys,
    "records migrate-keys --dry-run",
    "records migrate-keys --json",
    "--store 's3://my-space?endpoint=https://nyc3.digitaloceanspaces.com&region=nyc3' records migrate-keys --dry-run",
  );
}

function printRecord(s: IaCState, holder: LockHolder | undefined): void {
  const rows: Array<[string, string]> = [
    ["resource_id", s.resource_id],
    ["resource_type", s.resource_type],
    ["provider", s.provider],
    ["status", s.status],
  ];
  for (const key of ["provider_ref", "provider_id", "config_hash", "error"] as const) {
    const v = s[key];
    if (v !== undefined && v !== "") rows.push([key, v]);
  }
  if (s.dependencies !== undefined && s.dependencies.length > 0)
    rows.push(["dependencies", s.dependencies.join(", ")]);
  rows.push(["created_at", s.created_at], ["updated_at", s.updated_at]);
  rows.push(["lock", holder === undefined ? "-" : describeHolder(holder)]);
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) out(`${paint("bold", k.padEnd(width))}  ${printable(v)}`);
  for (const key of ["outputs", "config"] as const) {
    out(paint("bold", key));
    for (const line of JSON.stringify(s[key], null, 2).split("\n")) out(`  ${printable(line)}`);
  }
}

/** Who holds the record's lock, as far as it can be read (undefined: unlocked or unreadable). */
function lockOf(store: RecordStore, id: string): Promise<LockHolder | undefined> {
  return store.lockInfo(id).catch(() => undefined);
}

/** Asks before removing whichever lock the record has, naming its holder; true to go on. */
async function confirmRemoval(store: RecordStore, id: string, yes: boolean | undefined): Promise<boolean> {
  const info = await lockOf(store, id);
  const who = info === undefined ? "an unknown holder" : printable(describeHolder(info));
  return confirm(`remove the lock on record ${JSON.stringify(printable(id))} held by ${who}?`, yes);
}
