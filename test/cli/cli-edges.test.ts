// The promises at the edges, through the real binary: no plaintext over encrypted history, every
// read checks the digest in current, verify finds a deleted current and mid-history orphans, and
// a failed unlock says what really happened.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { ensureBuilt, newKey, pointerEnv, sk, tempDir, V1, V2 } from "./helpers.js";

before(ensureBuilt);

const stackDir = (cwd: string) => join(cwd, ".statekeeper", "webshop", "prod");
const currentFile = (cwd: string) => join(stackDir(cwd), "current");
const revisionFiles = (cwd: string) => readdirSync(join(stackDir(cwd), "snapshots")).sort();

function editPointer(cwd: string, change: (p: Record<string, unknown>) => Record<string, unknown>): void {
  const pointer = JSON.parse(readFileSync(currentFile(cwd), "utf8")) as Record<string, unknown>;
  writeFileSync(currentFile(cwd), JSON.stringify(change(pointer)));
}

describe("statekeeper at the edges", { concurrency: true }, () => {
  it("push without the key that sealed the history exits 5, names that key, and writes nothing", async () => {
    const cwd = tempDir();
    const KEY = newKey();
    const OTHER = newKey();
    const env = pointerEnv({ STATEKEEPER_KEY: KEY, OTHER });
    assert.equal((await sk(["push", V1], { cwd, env })).code, 0);
    const before = revisionFiles(cwd);
    const pointerBefore = JSON.parse(readFileSync(currentFile(cwd), "utf8")).rev;

    const plain = await sk(["push", V2], { cwd, env: { ...env, STATEKEEPER_KEY: "" } });
    assert.equal(plain.code, 5, plain.stderr);
    assert.match(plain.stderr, /is sealed with key:[0-9a-f]{16} \(env STATEKEEPER_KEY\)/);
    assert.match(plain.stderr, /rekey/);
    const other = await sk(["push", V2, "--key-env", "OTHER"], { cwd, env });
    assert.equal(other.code, 5, other.stderr);
    assert.match(other.stderr, /is sealed with key:[0-9a-f]{16}/);

    assert.deepEqual(revisionFiles(cwd), before, "no revision written");
    assert.equal(JSON.parse(readFileSync(currentFile(cwd), "utf8")).rev, pointerBefore);
    const verify = await sk(["verify"], { cwd, env });
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    for (const r of [plain, other]) assert.ok(!r.stderr.includes(KEY) && !r.stderr.includes(OTHER));
  });

  it("a wrong digest in current: show, pull, diff and history exit 5; rollback refuses unless --repair", async () => {
    const cwd = tempDir();
    const env = pointerEnv();
    assert.equal((await sk(["push", V1], { cwd, env })).code, 0);
    const first = (await sk(["history", "--json"], { cwd, env })).stdout;
    const firstRev = JSON.parse(first).revisions[0].rev as string;
    assert.equal((await sk(["push", V2], { cwd, env })).code, 0);
    editPointer(cwd, (p) => ({ ...p, sha256: "0".repeat(64) }));

    for (const args of [["show"], ["pull"], ["diff", firstRev], ["history"]]) {
      const r = await sk(args, { cwd, env });
      assert.equal(r.code, 5, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, /does not match the digest recorded in current/, args.join(" "));
    }
    assert.equal((await sk(["show", firstRev], { cwd, env })).code, 0, "other revisions still read");
    const before = revisionFiles(cwd);
    const refused = await sk(["rollback", "--to", firstRev], { cwd, env });
    assert.equal(refused.code, 5, refused.stderr);
    assert.match(refused.stderr, /--repair/);
    assert.deepEqual(revisionFiles(cwd), before);
    const repaired = await sk(["rollback", "--to", firstRev, "--repair"], { cwd, env });
    assert.equal(repaired.code, 0, repaired.stderr);
    assert.equal((await sk(["show"], { cwd, env })).code, 0);
    const verify = await sk(["verify", "--json"], { cwd, env });
    assert.equal(verify.code, 0, verify.stdout);
  });

  it("current naming a missing revision: show and pull exit 5, not 1", async () => {
    const cwd = tempDir();
    const env = pointerEnv();
    assert.equal((await sk(["push", V1], { cwd, env })).code, 0);
    const rev = JSON.parse(readFileSync(currentFile(cwd), "utf8")).rev as string;
    rmSync(join(stackDir(cwd), "snapshots", `${rev}.json.enc`));
    for (const args of [["show"], ["pull"], ["verify"]]) {
      const r = await sk(args, { cwd, env });
      assert.equal(r.code, 5, `${args.join(" ")}: ${r.stderr}${r.stdout}`);
      assert.match(r.stderr + r.stdout, /current names revision .* but that revision is missing/);
    }
  });

  it("verify exits 5 when current was deleted but committed revisions remain", async () => {
    const cwd = tempDir();
    const env = pointerEnv();
    assert.equal((await sk(["push", V1], { cwd, env })).code, 0);
    assert.equal((await sk(["push", V2], { cwd, env })).code, 0);
    rmSync(currentFile(cwd));
    const r = await sk(["verify", "--json"], { cwd, env });
    assert.equal(r.code, 5, r.stdout);
    const report = JSON.parse(r.stdout);
    assert.equal(report.current, null);
    assert.match(report.problems[0].message, /current is missing/);
  });

  it("verify names interrupted commits in the middle of history, not only after current", async () => {
    const cwd = tempDir();
    const env = pointerEnv();
    assert.equal((await sk(["push", V1], { cwd, env })).code, 0);
    const p1 = JSON.parse(readFileSync(currentFile(cwd), "utf8"));
    assert.equal((await sk(["push", V2], { cwd, env })).code, 0);
    // Put current back to the first revision as if the second push had died between its two
    // steps, then commit a third: the second revision is now an orphan in mid-history.
    const orphan = JSON.parse(readFileSync(currentFile(cwd), "utf8")).rev as string;
    writeFileSync(currentFile(cwd), JSON.stringify(p1));
    assert.equal((await sk(["push", V1], { cwd, env })).code, 0);
    const r = await sk(["verify", "--json"], { cwd, env });
    assert.equal(r.code, 0, r.stdout);
    const report = JSON.parse(r.stdout);
    assert.deepEqual(report.orphans, [orphan]);
    assert.equal(report.revisions, 3);
    const text = await sk(["verify"], { cwd, env });
    assert.match(text.stdout, /1 revision\(s\) were written but never made current/);
  });
});
