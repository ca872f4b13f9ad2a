// Help, version, usage errors and exit code 2: bad flags, bad URLs, invalid or missing names.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { ensureBuilt, ROOT, sk, stackEnv, tempDir, V1 } from "./helpers.js";

before(ensureBuilt);

describe("statekeeper usage", { concurrency: true }, () => {
  it("--version prints the package version", async () => {
    const r = await sk(["--version"], { cwd: tempDir() });
    const { version } = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
    assert.equal(r.code, 0);
    assert.equal(r.stdout.trim(), version);
  });

  it("--help shows every command, the exit codes and examples", async () => {
    const r = await sk(["--help"], { cwd: tempDir() });
    assert.equal(r.code, 0);
    for (const cmd of [
      "stacks",
      "history",
      "show",
      "pull",
      "push",
      "diff",
      "rollback",
      "lock",
      "prune",
      "verify",
      "migrate",
      "import",
      "rekey",
      "probe",
      "records",
    ])
      assert.match(r.stdout, new RegExp(`\\n  ${cmd} `), cmd);
    assert.match(r.stdout, /Exit codes:[\s\S]*3 {2}locked[\s\S]*5 {2}integrity/);
    assert.match(r.stdout, /Examples:\n {2}\$ /);
  });

  it("every command's --help has examples", async () => {
    const cwd = tempDir();
    const commands = [
      ["push"],
      ["diff"],
      ["rollback"],
      ["lock", "force-unlock"],
      ["prune"],
      ["migrate"],
      ["import"],
      ["rekey"],
      ["records", "unlock"],
      ["records", "migrate-keys"],
    ];
    const results = await Promise.all(commands.map((c) => sk([...c, "--help"], { cwd })));
    results.forEach((r, i) => {
      assert.equal(r.code, 0, commands[i]?.join(" "));
      assert.match(r.stdout, /Examples:\n {2}\$ statekeeper /, commands[i]?.join(" "));
    });
  });

  it("an unknown option or command is a usage error (2) with a statekeeper: message", async () => {
    const cwd = tempDir();
    const r = await sk(["history", "--bogus"], { cwd, env: stackEnv() });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^statekeeper: unknown option '--bogus'/);
    const c = await sk(["histroy"], { cwd });
    assert.equal(c.code, 2);
    assert.match(c.stderr, /^statekeeper: unknown command 'histroy'/);
  });

  it("a bad store URL exits 2 with a clear message", async () => {
    const r = await sk(["--store", "ftp://example.com/x", "history"], { cwd: tempDir(), env: stackEnv() });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^statekeeper: invalid store URL ftp:\/\/example\.com\/x: unknown scheme "ftp:"/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  });

  it("an invalid stack name exits 2 before any I/O", async () => {
    const cwd = tempDir();
    const r = await sk(["push", V1, "--stack", "../etc"], { cwd, env: stackEnv() });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^statekeeper: invalid stack "\.\.\/etc"/);
    const h = await sk(["history"], { cwd, env: stackEnv({ STATEKEEPER_FACTORY: "a//b" }) });
    assert.equal(h.code, 2);
    assert.match(h.stderr, /invalid factory "a\/\/b".*empty segment/);
  });

  it("a stack command without --stack names the flag and the env var", async () => {
    const r = await sk(["history", "--factory", "webshop"], { cwd: tempDir() });
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr,
      "statekeeper: this command needs --stack NAME (or the STATEKEEPER_STACK environment variable)\n",
    );
  });

  it("a bad --lock-timeout or --keep is a usage error", async () => {
    const cwd = tempDir();
    const t = await sk(["push", V1, "--lock-timeout", "soon"], { cwd, env: stackEnv() });
    assert.equal(t.code, 2);
    assert.match(t.stderr, /--lock-timeout must be a duration/);
    const k = await sk(["prune", "--keep", "-1"], { cwd, env: stackEnv() });
    assert.equal(k.code, 2);
  });

  it("a stack with no revisions: history says so, show exits 1 naming the stack", async () => {
    const cwd = tempDir();
    const h = await sk(["history"], { cwd, env: stackEnv() });
    assert.equal(h.code, 0);
    assert.match(h.stdout, /no revisions in webshop\/prod/);
    const s = await sk(["show"], { cwd, env: stackEnv() });
    assert.equal(s.code, 1);
    assert.match(s.stderr, /no current snapshot for webshop\/prod/);
  });
});
