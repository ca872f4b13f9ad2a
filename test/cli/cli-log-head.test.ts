// `--head log`: a new stack headed by a log from the CLI (push, history, rollback, lock, verify
// on it), and `migrate` of a pointer stack into a log, which renames its revisions in order (and,
// without `--head`, into a pointer stack like its source, under the same names).
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { createBackend } from "../../src/backend/index.js";
import { fileStore } from "../../src/objectstore/file.js";
import { ensureBuilt, newKey, sk, stackEnv, tempDir, V1, V2 } from "./helpers.js";

before(ensureBuilt);

describe("statekeeper --head log", { concurrency: true }, () => {
  it("push to a new stack makes a log; history, rollback, lock and verify work on it; --head does not change an existing stack", async () => {
    const cwd = tempDir();
    const env = stackEnv({ K: newKey() });
    const run = (...args: string[]) => sk(["--key-env", "K", ...args], { cwd, env });
    for (const file of [V1, V2]) {
      const r = await run("--head", "log", "push", file);
      assert.equal(r.code, 0, r.stderr);
    }
    assert.ok(existsSync(join(cwd, ".statekeeper", "webshop", "prod", "head")), "the stack has a log");
    assert.ok(!existsSync(join(cwd, ".statekeeper", "webshop", "prod", "current")), "and no current pointer");
    // Without --head, the existing stack keeps its log.
    const again = await run("push", V1);
    assert.equal(again.code, 0, again.stderr);
    const history = JSON.parse((await run("history", "--json")).stdout) as {
      current: string;
      revisions: Array<{ rev: string }>;
    };
    // Each push is a lock, a commit and an unlock entry: the revisions are the commits' numbers.
    assert.deepEqual(
      history.revisions.map((r) => r.rev),
      ["2", "5", "8"],
    );
    assert.equal(history.current, "8");
    const rollback = await run("rollback", "--to", "5");
    assert.equal(rollback.code, 0, rollback.stderr);
    const diff = await run("diff", "5", "current", "--json");
    assert.equal(JSON.parse(diff.stdout).changed, false, "the rollback committed revision 5's content");
    // A holder in this process (a lock entry in the log); the CLI sees it and breaks it.
    const held = await createBackend(fileStore(join(cwd, ".statekeeper")), {
      factory: "webshop",
      stack: "prod",
    }).lock({
      operation: "maintenance",
    });
    const status = await run("lock", "status", "--json");
    assert.match(status.stdout, /maintenance/);
    const broken = await run("lock", "force-unlock", "--yes", "--json");
    assert.equal(broken.code, 0, broken.stderr);
    assert.equal(JSON.parse(broken.stdout).removed, true);
    assert.equal(await held.unlock(), false, "the broken holder no longer holds it");
    const verify = await run("verify", "--json");
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    assert.equal(JSON.parse(verify.stdout).revisions, 4);
  });

  it("migrate --head log copies a pointer stack into a new log, renaming its revisions in order; without --head the copy keeps the source's head and names", async () => {
    const cwd = tempDir();
    const env = stackEnv({ K: newKey() });
    for (const file of [V1, V2])
      assert.equal((await sk(["--key-env", "K", "--head", "pointer", "push", file], { cwd, env })).code, 0);
    assert.ok(
      existsSync(join(cwd, ".statekeeper", "webshop", "prod", "current")),
      "the source has a pointer",
    );
    const revs = (
      JSON.parse((await sk(["--key-env", "K", "history", "--json"], { cwd, env })).stdout) as {
        revisions: Array<{ rev: string }>;
      }
    ).revisions.map((r) => r.rev);
    const target = pathToFileURL(join(cwd, "logged")).href;
    const m = await sk(["--key-env", "K", "--head", "log", "migrate", "--to", target, "--json"], {
      cwd,
      env,
    });
    assert.equal(m.code, 0, m.stderr);
    const report = JSON.parse(m.stdout) as { renamed: Record<string, string>; current: string };
    // Entry 1 is the migration's lock; the copies follow in order.
    assert.deepEqual(report.renamed, { [revs[0] as string]: "2", [revs[1] as string]: "3" });
    assert.equal(report.current, "3");
    const human = await sk(
      ["--key-env", "K", "--head", "log", "migrate", "--to", pathToFileURL(join(cwd, "l2")).href],
      {
        cwd,
        env,
      },
    );
    assert.match(human.stdout, /headed by a log: its revisions are named by their place/);
    const show = await sk(["--key-env", "K", "--store", target, "show", "--json"], { cwd, env });
    assert.equal(show.code, 0, show.stderr);
    // No --head: the copy is a pointer stack like its source, under the source's revision names.
    const kept = join(cwd, "kept");
    const plain = await sk(["--key-env", "K", "migrate", "--to", pathToFileURL(kept).href, "--json"], {
      cwd,
      env,
    });
    assert.equal(plain.code, 0, plain.stderr);
    const keptReport = JSON.parse(plain.stdout) as { renamed?: unknown; current: string };
    assert.equal(keptReport.renamed, undefined, "nothing renamed");
    assert.equal(keptReport.current, revs[1]);
    assert.ok(existsSync(join(kept, "webshop", "prod", "current")), "the copy has a pointer");
    assert.ok(!existsSync(join(kept, "webshop", "prod", "head")), "and no log");
  });
});
