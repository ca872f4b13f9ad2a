// `statekeeper records`: list with filters, get, delete, lock/unlock across processes, force-unlock.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { defaultStoreUrl, ensureBuilt, fixture, sk, tempDir } from "./helpers.js";

before(ensureBuilt);

async function seeded(corrupt = false): Promise<string> {
  const cwd = tempDir("records");
  await fixture("populate-records.ts", [defaultStoreUrl(cwd), ...(corrupt ? ["--corrupt"] : [])]);
  return cwd;
}

const ids = (out: string): string[] =>
  JSON.parse(out).records.map((r: { resource_id: string }) => r.resource_id);

describe("statekeeper records", { concurrency: true }, () => {
  it("list returns every record sorted by id, and ANDs --type/--provider/--status", async () => {
    const cwd = await seeded();
    const all = await sk(["records", "list", "--json"], { cwd });
    assert.equal(all.code, 0, all.stderr);
    assert.deepEqual(ids(all.stdout), ["db-old", "team/a b%", "vpc-main"]);
    assert.deepEqual(JSON.parse(all.stdout).unreadable, []);
    assert.deepEqual(ids((await sk(["records", "list", "--provider", "aws", "--json"], { cwd })).stdout), [
      "db-old",
      "vpc-main",
    ]);
    assert.deepEqual(
      ids(
        (await sk(["records", "list", "--provider", "aws", "--status", "active", "--json"], { cwd })).stdout,
      ),
      ["vpc-main"],
    );
    assert.deepEqual(ids((await sk(["records", "list", "--type", "kubernetes", "--json"], { cwd })).stdout), [
      "team/a b%",
    ]);
    const human = await sk(["records", "list"], { cwd });
    assert.match(
      human.stdout,
      /ID\s+TYPE\s+PROVIDER\s+STATUS\s+UPDATED\ndb-old\s+database\s+aws\s+destroyed/,
    );
    const other = await sk(["records", "list", "--status", "running", "--json"], { cwd });
    assert.equal(other.code, 0, "any status is a status: none matches here");
    assert.deepEqual(ids(other.stdout), []);
    const bad = await sk(["records", "list", "--status", ""], { cwd });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /status "" must be a non-empty string/);
  });

  it("list reports an unreadable record and exits 5 instead of dropping it", async () => {
    const cwd = await seeded(true);
    const r = await sk(["records", "list", "--json"], { cwd });
    assert.equal(r.code, 5);
    const parsed = JSON.parse(r.stdout);
    assert.equal(parsed.records.length, 3);
    assert.deepEqual(
      parsed.unreadable.map((u: { id: string; code: string }) => [u.id, u.code]),
      [["broken", "E_CORRUPT"]],
    );
    const human = await sk(["records", "list"], { cwd });
    assert.match(human.stderr, /unreadable record broken/);
  });

  it("get prints one record (ids with / and spaces read back); a missing id exits 1", async () => {
    const cwd = await seeded();
    const r = await sk(["records", "get", "vpc-main", "--json"], { cwd });
    assert.equal(r.code, 0, r.stderr);
    const parsed = JSON.parse(r.stdout);
    assert.equal(parsed.record.resource_id, "vpc-main");
    assert.deepEqual(parsed.record.outputs, { id: "vpc-123" });
    assert.equal(parsed.lock, null);
    assert.equal(typeof parsed.etag, "string");
    const odd = JSON.parse((await sk(["records", "get", "team/a b%", "--json"], { cwd })).stdout);
    assert.equal(odd.record.resource_type, "kubernetes");
    const human = await sk(["records", "get", "vpc-main"], { cwd });
    assert.match(human.stdout, /resource_id\s+vpc-main\n/);
    const missing = await sk(["records", "get", "nope"], { cwd });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^statekeeper: no record "nope"/);
    const invalid = await sk(["records", "get", ""], { cwd });
    assert.equal(invalid.code, 2);
  });

  it("delete needs --yes without a terminal; then the record is gone", async () => {
    const cwd = await seeded();
    const refused = await sk(["records", "delete", "db-old"], { cwd });
    assert.equal(refused.code, 2);
    const r = await sk(["records", "delete", "db-old", "--yes", "--json"], { cwd });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { deleted: true, id: "db-old" });
    assert.deepEqual(ids((await sk(["records", "list", "--json"], { cwd })).stdout), [
      "team/a b%",
      "vpc-main",
    ]);
    const again = await sk(["records", "delete", "db-old", "--yes"], { cwd });
    assert.equal(again.code, 1);
  });

  it("lock prints a lock id another process can unlock with; a held lock exits 3 naming its holder", async () => {
    const cwd = await seeded();
    const locked = await sk(["records", "lock", "vpc-main", "--operation", "apply", "--json"], { cwd });
    assert.equal(locked.code, 0, locked.stderr);
    const { lockId, holder } = JSON.parse(locked.stdout);
    assert.match(lockId, /^[0-9a-f]{32}$/);
    assert.equal(holder.operation, "apply");
    const second = await sk(["records", "lock", "vpc-main"], { cwd });
    assert.equal(second.code, 3);
    assert.match(second.stderr, new RegExp(`pid ${holder.pid}`));
    const other = await sk(["records", "lock", "db-old"], { cwd });
    assert.equal(other.code, 0, "different ids never block each other");
    const shown = JSON.parse((await sk(["records", "get", "vpc-main", "--json"], { cwd })).stdout);
    assert.equal(shown.lock.id, lockId);
    const wrong = await sk(["records", "unlock", "vpc-main", "--lock-id", "0".repeat(32)], { cwd });
    assert.equal(wrong.code, 3, "someone else's lock is left in place");
    const noId = await sk(["records", "unlock", "vpc-main"], { cwd });
    assert.equal(noId.code, 2, "the force form asks first; without a terminal it needs --yes");
    assert.match(noId.stderr, /pass --yes/);
    const unlocked = await sk(["records", "unlock", "vpc-main", "--lock-id", lockId, "--json"], { cwd });
    assert.equal(unlocked.code, 0, unlocked.stderr);
    const parsed = JSON.parse(unlocked.stdout);
    assert.deepEqual([parsed.id, parsed.unlocked, parsed.holder.id], ["vpc-main", true, lockId]);
    const notLocked = await sk(["records", "unlock", "vpc-main", "--lock-id", lockId], { cwd });
    assert.equal(notLocked.code, 1);
    assert.match(notLocked.stderr, /is not locked/);
  });

  it("--layout spaces opens what DigitalOcean's Spaces store wrote; migrate-keys moves it to lossless keys", async () => {
    const cwd = tempDir("records-spaces");
    await fixture("populate-spaces.ts", [defaultStoreUrl(cwd)]);
    const spaces = await sk(["--layout", "spaces", "records", "list", "--status", "drifted", "--json"], {
      cwd,
    });
    assert.equal(spaces.code, 0, spaces.stderr);
    assert.deepEqual(ids(spaces.stdout), ["lb.eu-1"]);
    const refused = await sk(["--layout", "spaces", "history"], {
      cwd,
      env: { STATEKEEPER_FACTORY: "f", STATEKEEPER_STACK: "s" },
    });
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /--layout spaces is for 'statekeeper records/);

    const dry = await sk(["records", "migrate-keys", "--dry-run", "--json"], { cwd });
    assert.equal(dry.code, 4, "a locked record would be left in place");
    const plan = JSON.parse(dry.stdout);
    assert.deepEqual(
      plan.moved.map((m: { id: string }) => m.id),
      ["lb.eu-1"],
    );
    assert.deepEqual(
      plan.skipped.map((m: { id: string; code: string }) => [m.id, m.code]),
      [["svc/a", "E_LOCKED"]],
    );

    const forced = await sk(["--layout", "spaces", "records", "unlock", "svc/a", "--yes", "--json"], { cwd });
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(JSON.parse(forced.stdout).holder.since, "2025-04-01T12:00:00Z");

    const run = await sk(["records", "migrate-keys", "--json"], { cwd });
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout);
    assert.deepEqual(
      [report.moved.map((m: { id: string }) => m.id), report.alreadyLossless, report.complete],
      [["lb.eu-1", "svc/a"], 1, true],
    );
    const after = await sk(["records", "list", "--json"], { cwd });
    assert.equal(after.code, 0, after.stderr);
    assert.deepEqual(ids(after.stdout), ["lb.eu-1", "svc/a", "web1"]);
    const human = await sk(["records", "migrate-keys"], { cwd });
    assert.match(human.stdout, /moved 0 of 3 records \(3 already at lossless keys, 0 left in place\)/);
  });

  it("force-unlock removes anyone's lock with --yes and reports the holder", async () => {
    const cwd = await seeded();
    const lockId = (await sk(["records", "lock", "vpc-main"], { cwd })).stdout.trim();
    assert.equal((await sk(["records", "force-unlock", "vpc-main"], { cwd })).code, 2);
    const r = await sk(["records", "force-unlock", "vpc-main", "--yes", "--json"], { cwd });
    assert.equal(r.code, 0, r.stderr);
    const parsed = JSON.parse(r.stdout);
    assert.equal(parsed.removed, true);
    assert.equal(parsed.holder.id, lockId);
    const again = (await sk(["records", "lock", "vpc-main"], { cwd })).stdout.trim();
    const forced = await sk(["records", "unlock", "vpc-main", "--yes", "--json"], { cwd });
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(JSON.parse(forced.stdout).holder.id, again, "unlock without --lock-id is the force form");
    const none = await sk(["records", "unlock", "vpc-main", "--yes"], { cwd });
    assert.equal(none.code, 1, "the force form of an unlocked id is 'not locked', as in the original");
    assert.match(none.stderr, /is not locked/);
  });

  it("--prefix selects another records folder", async () => {
    const cwd = await seeded();
    const r = await sk(["records", "--prefix", "elsewhere/", "list", "--json"], { cwd });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(ids(r.stdout), []);
  });
});
