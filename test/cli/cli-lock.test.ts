// Locks and prune: a held lock exits 3 naming the holder; force-unlock asks or needs --yes; prune
// is a dry run unless --yes and never deletes the current revision.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { defaultStoreUrl, ensureBuilt, fixture, sk, stackEnv, tempDir, V1, V2 } from "./helpers.js";

before(ensureBuilt);

/** A store whose webshop/prod lock is held by a process that exited without releasing it. */
async function lockedStack(): Promise<{
  cwd: string;
  holder: { id: string; user: string; host: string; pid: number };
}> {
  const cwd = tempDir();
  const pushed = await sk(["push", V1], { cwd, env: stackEnv() });
  assert.equal(pushed.code, 0, pushed.stderr);
  const holder = JSON.parse(await fixture("hold-lock.ts", [defaultStoreUrl(cwd), "webshop", "prod"]));
  return { cwd, holder };
}

describe("statekeeper lock and prune", { concurrency: true }, () => {
  it("push against a held lock times out with exit 3 and names the holder", async () => {
    const { cwd, holder } = await lockedStack();
    const r = await sk(["push", V2, "--lock-timeout", "300ms"], { cwd, env: stackEnv() });
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /statekeeper: timed out waiting for the lock: stack webshop\/prod is locked by /);
    assert.ok(r.stderr.includes(`${holder.user}@${holder.host} (pid ${holder.pid}`), r.stderr);
    assert.ok(r.stderr.includes('operation "apply"'), r.stderr);
    const rb = await sk(["rollback", "--to", "current", "--lock-timeout", "0"], { cwd, env: stackEnv() });
    assert.equal(rb.code, 3);
  });

  it("lock status reports the holder; stacks shows the stack locked", async () => {
    const { cwd, holder } = await lockedStack();
    const s = await sk(["lock", "status", "--json"], { cwd, env: stackEnv() });
    assert.equal(s.code, 0, s.stderr);
    const parsed = JSON.parse(s.stdout);
    assert.equal(parsed.locked, true);
    assert.equal(parsed.holder.id, holder.id);
    assert.equal(parsed.holder.operation, "apply");
    assert.equal(parsed.leaseMs, 120_000);
    const human = await sk(["lock", "status"], { cwd, env: stackEnv() });
    assert.match(
      human.stdout,
      /webshop\/prod is locked by [^@\s]+@[^@\s]+ \(pid \d+, operation "apply"\) since /,
    );
    const stacks = JSON.parse((await sk(["stacks", "--json"], { cwd })).stdout);
    assert.equal(stacks.stacks[0].locked, true);
    assert.equal(stacks.stacks[0].holder.id, holder.id);
    assert.deepEqual(Object.keys(stacks.stacks[0].holder).sort(), [
      "host",
      "id",
      "operation",
      "pid",
      "since",
      "user",
    ]);
    // The stacks table names the holder once as user@host (it used to print root@vm@vm).
    const table = (await sk(["stacks"], { cwd })).stdout;
    assert.ok(table.includes(`locked by ${holder.user}@${holder.host}`), table);
    assert.ok(!table.includes(`@${holder.host}@`), table);
  });

  it("force-unlock without a terminal and without --yes is refused (exit 2) and leaves the lock", async () => {
    const { cwd } = await lockedStack();
    const r = await sk(["lock", "force-unlock"], { cwd, env: stackEnv() });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /refusing without confirmation; stdin is not a terminal, pass --yes/);
    assert.match(r.stderr, /held by .*pid \d+/);
    const s = JSON.parse((await sk(["lock", "status", "--json"], { cwd, env: stackEnv() })).stdout);
    assert.equal(s.locked, true);
  });

  it("force-unlock --yes removes the lock, reports who held it, and push works again", async () => {
    const { cwd, holder } = await lockedStack();
    const r = await sk(["lock", "force-unlock", "--yes", "--json"], { cwd, env: stackEnv() });
    assert.equal(r.code, 0, r.stderr);
    const parsed = JSON.parse(r.stdout);
    assert.equal(parsed.removed, true);
    assert.equal(parsed.holder.id, holder.id);
    const again = await sk(["lock", "force-unlock", "--yes"], { cwd, env: stackEnv() });
    assert.equal(again.code, 0);
    assert.match(again.stdout, /is not locked/);
    const push = await sk(["push", V2, "--lock-timeout", "0"], { cwd, env: stackEnv() });
    assert.equal(push.code, 0, push.stderr);
  });

  it("prune is a dry run without --yes, deletes with --yes, and never the current revision", async () => {
    const cwd = tempDir();
    const revs: string[] = [];
    for (const file of [V1, V2, V1, V2]) {
      const r = await sk(["push", file], { cwd, env: stackEnv() });
      assert.equal(r.code, 0, r.stderr);
      revs.push(r.stdout.trim());
    }
    // Make the oldest revision current again: prune --keep 1 must keep it as well as the newest.
    const rb = await sk(["rollback", "--to", revs[0] as string], { cwd, env: stackEnv() });
    const current = rb.stdout.trim();
    const dry = await sk(["prune", "--keep", "0", "--json"], { cwd, env: stackEnv() });
    assert.equal(dry.code, 0, dry.stderr);
    const plan = JSON.parse(dry.stdout);
    assert.equal(plan.dryRun, true);
    assert.deepEqual(plan.wouldDelete, revs);
    assert.deepEqual(plan.kept, [current]);
    const still = JSON.parse((await sk(["history", "--json"], { cwd, env: stackEnv() })).stdout);
    assert.equal(still.revisions.length, 5, "a dry run deletes nothing");
    const human = await sk(["prune", "--keep", "2"], { cwd, env: stackEnv() });
    assert.match(human.stdout, /would delete 3 of 5 revisions \(dry run; add --yes to delete\)/);

    const real = await sk(["prune", "--keep", "0", "--yes", "--json"], { cwd, env: stackEnv() });
    assert.equal(real.code, 0, real.stderr);
    assert.deepEqual(JSON.parse(real.stdout).deleted, revs);
    const after = JSON.parse((await sk(["history", "--json"], { cwd, env: stackEnv() })).stdout);
    assert.deepEqual(
      after.revisions.map((r: { rev: string }) => r.rev),
      [current],
    );
    assert.equal(after.current, current);
  });

  it("prune --yes waits for the lock like any writer (exit 3 when held)", async () => {
    const { cwd } = await lockedStack();
    const r = await sk(["prune", "--keep", "0", "--yes", "--lock-timeout", "200ms"], {
      cwd,
      env: stackEnv(),
    });
    assert.equal(r.code, 3);
  });
});
