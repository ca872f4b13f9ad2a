// Keys, integrity and copies: wrong key (exit 5, sealing key named), verify finds a flipped byte,
// rekey rotates history, migrate file→file keeps rev names and contents, probe, no secret printed.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { ensureBuilt, newKey, pointerEnv, type Result, sk, stackEnv, tempDir, V1, V2 } from "./helpers.js";

before(ensureBuilt);

const PASSPHRASE = "correct horse battery staple 4417";

function assertNoSecret(results: readonly Result[], secrets: readonly string[]): void {
  for (const r of results)
    for (const secret of secrets) {
      assert.ok(!r.stdout.includes(secret), "a secret appeared on stdout");
      assert.ok(!r.stderr.includes(secret), "a secret appeared on stderr");
    }
}

function snapshotFiles(cwd: string): string[] {
  const dir = join(cwd, ".statekeeper", "webshop", "prod", "snapshots");
  return readdirSync(dir).map((f) => join(dir, f));
}

describe("statekeeper keys and integrity", { concurrency: true }, () => {
  it("a wrong key exits 5 and names the key that sealed the file; no key value is printed", async () => {
    const cwd = tempDir();
    const OLD = newKey();
    const OTHER = newKey();
    const env = stackEnv({ OLD, OTHER });
    const results: Result[] = [];
    const push = await sk(["push", V1, "--key-env", "OLD"], { cwd, env });
    results.push(push);
    assert.equal(push.code, 0, push.stderr);
    const wrong = await sk(["show", "--key-env", "OTHER"], { cwd, env });
    results.push(wrong);
    assert.equal(wrong.code, 5);
    assert.match(
      wrong.stderr,
      /^statekeeper: cannot open sealed file: it was sealed with key:[0-9a-f]{16} \(env OLD\)/,
    );
    const none = await sk(["pull"], { cwd, env });
    results.push(none);
    assert.equal(none.code, 5, "the default (unencrypted) reader cannot open it either");
    const viaDefault = await sk(["show", "--json"], { cwd, env: { ...env, STATEKEEPER_KEY: OLD } });
    results.push(viaDefault);
    assert.equal(viaDefault.code, 0, viaDefault.stderr);
    const debug = await sk(["show", "--key-env", "OTHER"], { cwd, env: { ...env, STATEKEEPER_DEBUG: "1" } });
    results.push(debug);
    assert.equal(debug.code, 5);
    assert.match(debug.stderr, /\n\s+at /, "STATEKEEPER_DEBUG=1 shows the stack");
    assert.doesNotMatch(wrong.stderr, /\n\s+at /, "no stack trace by default");
    const unset = await sk(["show", "--key-env", "MISSING_KEY"], { cwd, env });
    assert.equal(unset.code, 2);
    assert.match(unset.stderr, /environment variable MISSING_KEY is not set/);
    assertNoSecret(results, [OLD, OTHER]);
  });

  it("a passphrase seals and opens; the passphrase never appears in output or errors", async () => {
    const cwd = tempDir();
    const env = stackEnv({ PASS: PASSPHRASE, SHORT: "too-short" });
    const results = [
      await sk(["push", V1, "--passphrase-env", "PASS"], { cwd, env }),
      await sk(["verify", "--json", "--passphrase-env", "PASS"], { cwd, env }),
      await sk(["show", "--passphrase-env", "SHORT"], { cwd, env }),
      await sk(["show"], { cwd, env }),
    ];
    assert.equal(results[0]?.code, 0, results[0]?.stderr);
    assert.equal(results[1]?.code, 0, results[1]?.stderr);
    assert.deepEqual(JSON.parse(results[1]?.stdout ?? "").sealedWith, { passphrase: 1 });
    assert.equal(results[2]?.code, 2);
    assert.match(results[2]?.stderr ?? "", /passphrase/);
    assert.equal(results[3]?.code, 5);
    assertNoSecret(results, [PASSPHRASE, "too-short"]);
  });

  it("verify passes on good history and exits 5 on a flipped byte, naming the revision", async () => {
    const cwd = tempDir();
    const K = newKey();
    const env = pointerEnv({ K });
    const r1 = (await sk(["push", V1, "--key-env", "K"], { cwd, env })).stdout.trim();
    const r2 = (await sk(["push", V2, "--key-env", "K"], { cwd, env })).stdout.trim();
    const good = await sk(["verify", "--key-env", "K", "--json"], { cwd, env });
    assert.equal(good.code, 0, good.stderr);
    const report = JSON.parse(good.stdout);
    assert.equal(report.ok, true);
    assert.equal(report.revisions, 2);
    assert.equal(report.current, r2);
    assert.deepEqual(report.problems, []);

    const file = snapshotFiles(cwd).find((f) => f.includes(r1)) as string;
    const bytes = readFileSync(file);
    bytes[bytes.length - 5] = (bytes[bytes.length - 5] as number) ^ 0x01;
    writeFileSync(file, bytes);
    const bad = await sk(["verify", "--key-env", "K", "--json"], { cwd, env });
    assert.equal(bad.code, 5);
    const found = JSON.parse(bad.stdout);
    assert.equal(found.ok, false);
    assert.deepEqual(
      found.problems.map((p: { rev: string; code: string }) => [p.rev, p.code]),
      [[r1, "E_DECRYPT"]],
    );
    const human = await sk(["verify", "--key-env", "K"], { cwd, env });
    assert.equal(human.code, 5);
    assert.match(human.stdout, new RegExp(`PROBLEM ${r1.replace(/\./g, "\\.")}`));
    const history = await sk(["history", "--key-env", "K"], { cwd, env });
    assert.equal(history.code, 5, "history marks the unreadable revision and exits 5");
  });

  it("verify notices a current revision replaced behind the pointer's back (digest mismatch)", async () => {
    const cwd = tempDir();
    const env = pointerEnv();
    const r1 = (await sk(["push", V1], { cwd, env })).stdout.trim();
    const r2 = (await sk(["push", V2], { cwd, env })).stdout.trim();
    const files = snapshotFiles(cwd);
    const current = files.find((f) => f.includes(r2)) as string;
    writeFileSync(current, readFileSync(files.find((f) => f.includes(r1)) as string));
    const r = await sk(["verify", "--json"], { cwd, env });
    assert.equal(r.code, 5);
    const problems = JSON.parse(r.stdout).problems as Array<{ rev: string; code: string }>;
    assert.ok(
      problems.some((p) => p.rev === r2),
      JSON.stringify(problems),
    );
  });

  it("rekey moves history to the new key: afterwards the new key alone opens it and the old alone does not", async () => {
    const cwd = tempDir();
    const OLD = newKey();
    const NEW = newKey();
    const env = stackEnv({ OLD, NEW });
    await sk(["push", V1, "--key-env", "OLD"], { cwd, env });
    await sk(["push", V2, "--key-env", "OLD"], { cwd, env });
    const withoutOld = await sk(["rekey", "--key-env", "NEW", "--json"], { cwd, env });
    assert.equal(withoutOld.code, 5, "revisions it cannot open are reported with exit 5");
    const partial = JSON.parse(withoutOld.stdout);
    assert.equal(partial.failed.length, 2);
    assert.match(partial.failed[0].message, /sealed with key:[0-9a-f]{16} \(env OLD\)/);

    const r = await sk(["rekey", "--key-env", "NEW", "--key-env", "OLD", "--json"], { cwd, env });
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.revisions, 2);
    assert.equal(report.resealed, 2);
    assert.equal(report.alreadyOnPrimary, 0);
    assert.deepEqual(Object.values(report.before), [2]);
    assert.deepEqual(report.after, { [report.primary]: 2 });
    assert.notDeepEqual(Object.keys(report.before), [report.primary]);

    const onlyNew = await sk(["verify", "--key-env", "NEW", "--json"], { cwd, env });
    assert.equal(onlyNew.code, 0, onlyNew.stdout);
    assert.deepEqual(JSON.parse(onlyNew.stdout).sealedWith, { [report.primary]: 2 });
    assert.equal((await sk(["pull", "--key-env", "NEW"], { cwd, env })).stdout, readFileSync(V2, "utf8"));
    const onlyOld = await sk(["show", "--key-env", "OLD"], { cwd, env });
    assert.equal(onlyOld.code, 5);
    const again = JSON.parse((await sk(["rekey", "--key-env", "NEW", "--json"], { cwd, env })).stdout);
    assert.equal(again.alreadyOnPrimary, 2);
    assertNoSecret([withoutOld, r, onlyNew, onlyOld], [OLD, NEW]);
  });

  it("rekey --from-unencrypted encrypts an unencrypted history; passphrase → passphrase rotation works", async () => {
    const cwd = tempDir();
    const K = newKey();
    const env = stackEnv({ K, P1: PASSPHRASE, P2: `${PASSPHRASE}-2` });
    await sk(["push", V1], { cwd, env });
    const r = await sk(["rekey", "--key-env", "K", "--from-unencrypted", "--json"], { cwd, env });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).before, { noop: 1 });
    assert.equal((await sk(["show"], { cwd, env })).code, 5, "no longer readable without the key");
    const cwd2 = tempDir();
    assert.equal((await sk(["push", V1, "--passphrase-env", "P1"], { cwd: cwd2, env })).code, 0);
    const two = await sk(["rekey", "--passphrase-env", "P2", "--passphrase-env", "P1", "--json"], {
      cwd: cwd2,
      env,
    });
    assert.equal(two.code, 0, two.stderr);
    assert.equal(JSON.parse(two.stdout).resealed, 1);
    assert.equal((await sk(["show", "--passphrase-env", "P2"], { cwd: cwd2, env })).code, 0);
    assert.equal((await sk(["show", "--passphrase-env", "P1"], { cwd: cwd2, env })).code, 5);
    assertNoSecret([two], [PASSPHRASE]);
  });

  it("migrate file→file copies every revision with the same names, contents and current; re-run is a no-op", async () => {
    const cwd = tempDir();
    const target = pathToFileURL(join(tempDir(), "copy")).href;
    const K = newKey();
    const T = newKey();
    const env = pointerEnv({ K, T });
    for (const f of [V1, V2, V1])
      assert.equal((await sk(["push", f, "--key-env", "K"], { cwd, env })).code, 0);
    const m = await sk(["migrate", "--to", target, "--key-env", "K", "--to-key-env", "T", "--json"], {
      cwd,
      env,
    });
    assert.equal(m.code, 0, m.stderr);
    const summary = JSON.parse(m.stdout);
    assert.equal(summary.revisions, 3);
    assert.equal(summary.copied, 3);
    assert.equal(summary.verified, true);
    const src = JSON.parse((await sk(["history", "--json", "--key-env", "K"], { cwd, env })).stdout);
    const dst = JSON.parse(
      (await sk(["--store", target, "history", "--json", "--key-env", "T"], { cwd, env })).stdout,
    );
    assert.deepEqual(
      dst.revisions.map((r: { rev: string }) => r.rev),
      src.revisions.map((r: { rev: string }) => r.rev),
    );
    assert.deepEqual(
      dst.revisions.map((r: { parent: string | null }) => r.parent),
      src.revisions.map((r: { parent: string | null }) => r.parent),
      "the copy keeps each revision's parent, so verify follows the same line",
    );
    assert.equal(src.revisions[1].parent, src.revisions[0].rev);
    assert.equal(dst.current, src.current);
    for (const { rev } of src.revisions as Array<{ rev: string }>) {
      const a = await sk(["pull", rev, "--key-env", "K"], { cwd, env });
      const b = await sk(["--store", target, "pull", rev, "--key-env", "T"], { cwd, env });
      assert.equal(b.stdout, a.stdout, rev);
    }
    assert.equal(
      (await sk(["--store", target, "show", "--key-env", "K"], { cwd, env })).code,
      5,
      "re-sealed with T",
    );
    const again = JSON.parse(
      (await sk(["migrate", "--to", target, "--key-env", "K", "--to-key-env", "T", "--json"], { cwd, env }))
        .stdout,
    );
    assert.deepEqual([again.copied, again.alreadyPresent], [0, 3]);
  });

  it("migrate refuses a target stack that already has a different history (exit 4)", async () => {
    const cwd = tempDir();
    const other = tempDir();
    const target = pathToFileURL(join(other, ".statekeeper")).href;
    await sk(["push", V1], { cwd, env: pointerEnv() });
    await sk(["push", V2], { cwd: other, env: pointerEnv() });
    const m = await sk(["migrate", "--to", target], { cwd, env: pointerEnv() });
    assert.equal(m.code, 4);
    assert.match(
      m.stderr,
      /refusing to migrate: the target webshop\/prod already has 1 revision\(s\) the source lacks/,
    );
    const h = JSON.parse(
      (await sk(["--store", target, "history", "--json"], { cwd, env: pointerEnv() })).stdout,
    );
    assert.equal(h.revisions.length, 1, "nothing was written to the target");
  });

  it("probe reports what a file store honours", async () => {
    const cwd = tempDir();
    const r = await sk(["probe", "file:./probed", "--json"], { cwd });
    assert.equal(r.code, 0, r.stderr);
    const caps = JSON.parse(r.stdout);
    assert.deepEqual(
      [caps.store, caps.supported, caps.createOnly, caps.compareAndSwap, caps.conditionalDelete],
      ["file", true, true, true, true],
    );
    assert.deepEqual(caps.heads, { pointer: true, log: true });
    const human = await sk(["probe"], { cwd });
    assert.match(human.stdout, /create-only writes \(If-None-Match: \*\)\s+honoured/);
    assert.match(human.stdout, /supported: statekeeper will store state here/);
    assert.match(human.stdout, /stacks headed by a log \(head: "log"\)\s+kept/);
    const bad = await sk(["probe", "nowhere"], { cwd });
    assert.equal(bad.code, 2);
  });
});
