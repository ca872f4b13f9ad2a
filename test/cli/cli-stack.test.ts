// End-to-end: push, history, show, pull, diff, rollback, stacks on the embedded default store.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { before, describe, it } from "node:test";
import { ensureBuilt, sk, stackEnv, tempDir, V1, V2 } from "./helpers.js";

before(ensureBuilt);

/** A temp dir whose ./.statekeeper holds webshop/prod with v1 then v2 pushed; returns the revs. */
async function twoRevisions(): Promise<{ cwd: string; r1: string; r2: string }> {
  const cwd = tempDir();
  const env = stackEnv();
  const a = await sk(["push", V1], { cwd, env });
  assert.equal(a.code, 0, a.stderr);
  const b = await sk(["push", V2], { cwd, env });
  assert.equal(b.code, 0, b.stderr);
  return { cwd, r1: a.stdout.trim(), r2: b.stdout.trim() };
}

describe("statekeeper stack commands", { concurrency: true }, () => {
  it("push prints the new rev; history --json lists both, oldest first, the second current", async () => {
    const { cwd, r1, r2 } = await twoRevisions();
    // A new stack is headed by a log: a revision is named by its commit entry's number.
    assert.match(r1, /^[1-9]\d*$/);
    assert.notEqual(r1, r2);
    const h = await sk(["history", "--json"], { cwd, env: stackEnv() });
    assert.equal(h.code, 0, h.stderr);
    const parsed = JSON.parse(h.stdout);
    assert.equal(parsed.factory, "webshop");
    assert.equal(parsed.stack, "prod");
    assert.equal(parsed.current, r2);
    assert.deepEqual(
      parsed.revisions.map((r: { rev: string; current: boolean; entries: number }) => [
        r.rev,
        r.current,
        r.entries,
      ]),
      [
        [r1, false, 3],
        [r2, true, 3],
      ],
    );
    assert.equal(parsed.revisions[0].generatedAt, "2026-05-12T15:30:00.123456789Z");
    assert.ok(parsed.revisions[0].size > 0);
    const reversed = JSON.parse(
      (await sk(["history", "--reverse", "--json"], { cwd, env: stackEnv() })).stdout,
    );
    assert.deepEqual(
      reversed.revisions.map((r: { rev: string }) => r.rev),
      [r2, r1],
    );
    const human = await sk(["history"], { cwd, env: stackEnv() });
    assert.match(human.stdout, /REV\s+AGE\s+SIZE\s+ENTRIES/);
    assert.ok(!human.stdout.includes("\u001b["), "no colour when stdout is not a terminal");
    assert.match(human.stdout, new RegExp(`\\*\\s+${r2.replace(/\./g, "\\.")}`));
  });

  it("pull writes exactly the encoded bytes; push from stdin round-trips them", async () => {
    const { cwd, r1 } = await twoRevisions();
    const pulled = await sk(["pull", r1], { cwd, env: stackEnv() });
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.equal(pulled.stdout, readFileSync(V1, "utf8"));
    const pushed = await sk(["push", "-", "--json"], { cwd, env: stackEnv(), input: pulled.stdout });
    assert.equal(pushed.code, 0, pushed.stderr);
    const { rev, previous } = JSON.parse(pushed.stdout);
    assert.notEqual(rev, previous);
    const current = await sk(["pull"], { cwd, env: stackEnv() });
    assert.equal(current.stdout, readFileSync(V1, "utf8"));
  });

  it("show masks sensitive inputs unless --show-sensitive", async () => {
    const { cwd, r1 } = await twoRevisions();
    const masked = JSON.parse((await sk(["show", r1, "--json"], { cwd, env: stackEnv() })).stdout);
    assert.equal(masked.rev, r1);
    assert.equal(masked.current, false);
    const db = masked.snapshot.entries.find((e: { address: string }) => e.address === "database.main");
    assert.equal(db.inputs.password, "(sensitive)");
    assert.equal(db.inputs.engine, "postgres");
    const human = await sk(["show", r1], { cwd, env: stackEnv() });
    assert.match(human.stdout, /database\.main\s+leaf\s+aws:rds:instance/);
    assert.match(human.stdout, /network\.vpc\s+library-call\s+aws\.vpc/);
    assert.doesNotMatch(human.stdout + JSON.stringify(masked), /example-only-not-a-secret/);
    const shown = await sk(["show", r1, "--json", "--show-sensitive"], { cwd, env: stackEnv() });
    assert.match(shown.stdout, /example-only-not-a-secret/);
  });

  it("diff reports added, removed and field-level changes, masked; `current` and current~1 are rev names", async () => {
    const { cwd, r1, r2 } = await twoRevisions();
    const d = await sk(["diff", r1, "current", "--json"], { cwd, env: stackEnv() });
    assert.equal(d.code, 0, d.stderr);
    const parsed = JSON.parse(d.stdout);
    assert.equal(parsed.from, r1);
    assert.equal(parsed.to, r2);
    assert.equal(parsed.changed, true);
    assert.deepEqual(
      parsed.diff.added.map((e: { address: string }) => e.address),
      ["cache.sessions"],
    );
    assert.deepEqual(
      parsed.diff.removed.map((e: { address: string }) => e.address),
      ["storage.assets"],
    );
    const db = parsed.diff.changed.find((c: { address: string }) => c.address === "database.main");
    assert.deepEqual(db.inputs, [
      { path: "password", before: "(sensitive)", after: "(sensitive)" },
      { path: "size", before: "db.t3.small", after: "db.t3.medium" },
    ]);
    const vpc = parsed.diff.changed.find((c: { address: string }) => c.address === "network.vpc");
    assert.deepEqual(vpc.inputs, [{ path: "zones[2]", after: "eu-west-1c" }]);
    const human = await sk(["diff", "current~1"], { cwd, env: stackEnv() });
    assert.match(human.stdout, /\+ cache\.sessions/);
    assert.match(human.stdout, /- storage\.assets/);
    assert.match(human.stdout, /~ inputs\.size: "db\.t3\.small" → "db\.t3\.medium"/);
    assert.doesNotMatch(human.stdout, /example-only/);
    const same = JSON.parse((await sk(["diff", r2, "--json"], { cwd, env: stackEnv() })).stdout);
    assert.equal(same.changed, false);
  });

  it("rollback commits a new revision with the old content and keeps history", async () => {
    const { cwd, r1, r2 } = await twoRevisions();
    const rb = await sk(["rollback", "--to", r1, "--json"], { cwd, env: stackEnv() });
    assert.equal(rb.code, 0, rb.stderr);
    const result = JSON.parse(rb.stdout);
    assert.equal(result.from, r1);
    assert.equal(result.previous, r2);
    assert.ok(result.rev !== r1 && result.rev !== r2);
    const h = JSON.parse((await sk(["history", "--json"], { cwd, env: stackEnv() })).stdout);
    assert.deepEqual(
      h.revisions.map((r: { rev: string }) => r.rev),
      [r1, r2, result.rev],
    );
    assert.equal(h.current, result.rev);
    const content = await sk(["pull"], { cwd, env: stackEnv() });
    assert.equal(content.stdout, readFileSync(V1, "utf8"));
  });

  it("stacks lists factories and stacks with current rev, count and lock state", async () => {
    const { cwd, r2 } = await twoRevisions();
    const s = await sk(["stacks", "--json"], { cwd });
    assert.equal(s.code, 0, s.stderr);
    const { stacks } = JSON.parse(s.stdout);
    assert.equal(stacks.length, 1);
    // Size, time and who moved current come from the pointer; they vary from run to run.
    const { size, updated, by, ...rest } = stacks[0];
    assert.deepEqual(rest, {
      factory: "webshop",
      stack: "prod",
      current: r2,
      // Recorded in the pointer at commit: examples/webshop-v2.json holds 3 entries.
      entries: 3,
      revisions: 2,
      locked: false,
      holder: null,
    });
    assert.ok(Number.isSafeInteger(size) && size > 0, `size ${size}`);
    assert.ok(!Number.isNaN(Date.parse(updated)), `updated ${updated}`);
    assert.match(by, /\S+@\S+/);
    const human = await sk(["stacks"], { cwd });
    assert.match(
      human.stdout,
      /FACTORY\s+STACK\s+CURRENT\s+ENTRIES\s+REVISIONS\s+LOCK\nwebshop\s+prod\s+\S+\s+3\s+2\s+-/,
    );
  });

  it("push refuses a snapshot of another stack, and invalid files, with usage exit 2", async () => {
    const cwd = tempDir();
    const other = await sk(["push", V1], { cwd, env: stackEnv({ STATEKEEPER_STACK: "staging" }) });
    assert.equal(other.code, 2);
    assert.match(
      other.stderr,
      /^statekeeper: refusing to push: the file is a snapshot of webshop\/prod, not of webshop\/staging/,
    );
    const bad = await sk(["push", "-"], { cwd, env: stackEnv(), input: "{not json" });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^statekeeper: stdin is not a valid snapshot/);
    const missing = await sk(["push", "nope.json"], { cwd, env: stackEnv() });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read nope\.json: ENOENT/);
    const stale = await sk(["push", V1, "--expect-current", "2020-01-01T00:00:00Z"], {
      cwd,
      env: stackEnv(),
    });
    assert.equal(stale.code, 4);
  });
});
