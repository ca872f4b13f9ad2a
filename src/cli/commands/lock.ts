import type { Command } from "commander";
import { describeHolder, type LockInfo } from "../../backend/index.js";
import { hasErrorCode } from "../../errors.js";
import { holderFields } from "../../lock/lease.js";
import { type CliContext, globalsOf, openStackBackend } from "../context.js";
import { examples } from "../options.js";
import { out, paint, printable, printJson } from "../output.js";
import { confirm } from "../prompt.js";

export function registerLock(program: Command, _ctx: CliContext): void {
  const lock = program.command("lock").description("inspect or break the stack's lock");
  examples(lock, "lock status", "lock force-unlock --yes");

  const status = lock
    .command("status")
    .description("who holds the stack's lock, since when, doing what")
    .option(
      "--json",
      "print JSON: {locked, holder: {id, user, host, pid, operation, since} | null, leaseMs, renewals}",
    )
    .action(async (opts: { json?: boolean }, command: Command) => {
      // The lock object is plain JSON: no key is needed to read it.
      const backend = await openStackBackend(globalsOf(command), undefined);
      const info = await backend.lockInfo();
      if (opts.json)
        return printJson({
          locked: info !== undefined,
          holder: info === undefined ? null : holderFields(info),
          leaseMs: info?.leaseMs ?? null,
          renewals: info?.renewals ?? null,
        });
      if (info === undefined) return out(`${backend.factory}/${backend.stack} is not locked`);
      out(
        `${backend.factory}/${backend.stack} is ${paint("yellow", "locked")} by ${printable(describeHolder(info))}`,
      );
      out(`lock id ${info.id}, lease ${info.leaseMs / 1000}s, renewed ${info.renewals} times`);
    });
  examples(status, "lock status", "lock status --json");

  const force = lock
    .command("force-unlock")
    .description("remove the stack's lock whoever holds it (asks first unless --yes)")
    .option("-y, --yes", "do not ask; required when stdin is not a terminal")
    .option("--json", "print JSON: {removed, holder}")
    .action(async (opts: { yes?: boolean; json?: boolean }, command: Command) => {
      const backend = await openStackBackend(globalsOf(command), undefined);
      const name = `${backend.factory}/${backend.stack}`;
      let info: LockInfo | undefined;
      let unreadable = false;
      try {
        info = await backend.lockInfo();
      } catch (e) {
        // An unreadable lock is exactly what force-unlock is for.
        if (!hasErrorCode(e, "E_CORRUPT")) throw e;
        unreadable = true;
      }
      if (info === undefined && !unreadable) {
        if (opts.json) return printJson({ removed: false, holder: null });
        return out(`${name} is not locked`);
      }
      const who = info === undefined ? "an unknown or unreadable holder" : printable(describeHolder(info));
      if (!(await confirm(`remove the lock on ${name} held by ${who}?`, opts.yes))) {
        if (opts.json)
          return printJson({ removed: false, holder: info === undefined ? null : holderFields(info) });
        return out("lock left in place");
      }
      const holder = await backend.forceUnlock();
      if (opts.json)
        return printJson({ removed: true, holder: holder === undefined ? null : holderFields(holder) });
      out(
        `removed the lock on ${name} held by ${holder === undefined ? who : printable(describeHolder(holder))}`,
      );
    });
  examples(force, "lock force-unlock", "lock force-unlock --yes --json");
}
