// `statekeeper import` with the real binary, from localstate folders laid out as unobin's Go code
// writes them (test/support/unobin.ts), then history, show, diff and pull on what was imported.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import {
  documentedSnapshot,
  factoryStackSnapshot,
  goEncodeSnapshot,
  goRfc3339Nano,
  goSeal,
  moduleCallSnapshot,
  newUnobinKey,
  writeLocalStateStack,
} from "../support/unobin.js";
import { fingerprint } from "../unobin/fingerprint.js";
import { ensureBuilt, newKey, sk, stackEnv, tempDir, V1 } from "./helpers.js";

before(ensureBuilt);

const R1 = goRfc3339Nano("2026-05-12T15:30:00Z", 100);
const R2 = goRfc3339Nano("2026-05-12T15:31:00Z", 250_000);
const R3 = goRfc3339Nano("2026-05-12T15:32:00Z");

function unobinFolder(key: string, lockPid?: number) {
  const root = tempDir("unobin-cli-src");
  const plain = [
    { rev: R1, plaintext: goEncodeSnapshot(moduleCallSnapshot("webshop", "prod", R1)) },
    { rev: R2, plaintext: goEncodeSnapshot(factoryStackSnapshot("webshop", "prod", R2)) },
    { rev: R3, plaintext: goEncodeSnapshot(documentedSnapshot("webshop", "prod", R3)) },
  ];
  writeLocalStateStack(
    root,
    "webshop",
    "prod",
    plain.map(({ rev, plaintext }) => ({
      rev,
      sealed: goSeal(plaintext, { kind: "envelope-env-key", key, envVar: "UNOBIN_KEY", ref: true }),
    })),
    R3,
    lockPid,
  );
  return { url: pathToFileURL(root).href, plain };
}

describe("statekeeper import (unobin localstate)", () => {
  it("imports with unobin's env-key, re-sealed with statekeeper's key; history, show, diff and pull work on the result; no key is printed", async () => {
    const cwd = tempDir("unobin-cli");
    const key = newUnobinKey();
    const K = newKey();
    const { url, plain } = unobinFolder(key);
    const env = stackEnv({ UNOBIN_KEY: key, K });
    const run = await sk(
      ["import", "--from", url, "--from-key-env", "UNOBIN_KEY", "--key-env", "K", "--json"],
      {
        cwd,
        env,
      },
    );
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout);
    assert.deepEqual(
      [
        report.revisions,
        report.imported,
        report.current,
        report.openedWith,
        report.storedAs,
        report.verified,
      ],
      [3, 3, R3, "env-key env-var UNOBIN_KEY", { native: 1, document: 2 }, true],
    );
    for (const secret of [key, K]) assert.ok(!run.stdout.includes(secret) && !run.stderr.includes(secret));

    const keyed = stackEnv({ STATEKEEPER_KEY: K });
    const history = JSON.parse((await sk(["history", "--json"], { cwd, env: keyed })).stdout);
    assert.deepEqual(
      history.revisions.map((r: { rev: string; entries: number }) => [r.rev, r.entries]),
      [
        [R1, 3],
        [R2, 3],
        [R3, 2],
      ],
    );
    assert.equal(history.current, R3);

    const show = await sk(["show", R1], { cwd, env: keyed });
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /db\.primary\s+library-call\s+github\.com\/acme\/db\.Postgres/);
    assert.ok(!show.stdout.includes("hunter2-secret"), "sensitive fields stay masked");
    const diff = await sk(["diff", R2, R3], { cwd, env: keyed });
    assert.equal(diff.code, 0, diff.stderr);
    assert.match(diff.stdout, /resource\.main/);

    for (const { rev, plaintext } of plain) {
      const pulled = await sk(["pull", rev], { cwd, env: keyed });
      assert.equal(pulled.code, 0, pulled.stderr);
      const original = new TextDecoder().decode(plaintext);
      // unobin documents come back byte for byte; the documented shape as the same JSON value.
      if (rev === R3) assert.deepEqual(JSON.parse(pulled.stdout), JSON.parse(original));
      else assert.equal(pulled.stdout, original);
    }
    const again = await sk(["import", "--from", url, "--from-key-env", "UNOBIN_KEY", "--key-env", "K"], {
      cwd,
      env,
    });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /3 revisions \(0 imported, 3 already there, 2 kept as unobin documents\)/);
  });

  it("refuses a held lock (exit 3, naming the pid), a wrong key (exit 5), and encrypted state into an unencrypted stack (exit 2)", async () => {
    const cwd = tempDir("unobin-cli");
    const key = newUnobinKey();
    const locked = unobinFolder(key, 31337);
    const env = stackEnv({ UNOBIN_KEY: key, K: newKey(), WRONG: newUnobinKey() });
    const held = await sk(
      ["import", "--from", locked.url, "--from-key-env", "UNOBIN_KEY", "--key-env", "K"],
      {
        cwd,
        env,
      },
    );
    assert.equal(held.code, 3, held.stderr);
    assert.match(held.stderr, /unobin's lock on webshop\/prod is held by pid 31337/);

    const { url } = unobinFolder(key);
    const wrong = await sk(["import", "--from", url, "--from-key-env", "WRONG", "--key-env", "K"], {
      cwd,
      env,
    });
    assert.equal(wrong.code, 5, wrong.stderr);
    assert.match(wrong.stderr, /does not authenticate under env-key env-var WRONG/);

    const plain = await sk(["import", "--from", url, "--from-key-env", "UNOBIN_KEY"], { cwd, env });
    assert.equal(plain.code, 2, plain.stderr);
    assert.match(plain.stderr, /would store them unencrypted/);
    // New stacks get a log by default, and import gives its target a pointer itself; asking for
    // a log by name is refused before anything is written, saying how to get there.
    for (const [args, extra, named] of [
      [["--head", "log"], {}, "--head log"],
      [[], { STATEKEEPER_HEAD: "log" }, "STATEKEEPER_HEAD=log"],
    ] as const) {
      const logged = await sk(
        [...args, "import", "--from", url, "--from-key-env", "UNOBIN_KEY", "--key-env", "K"],
        {
          cwd,
          env: { ...env, ...extra },
        },
      );
      assert.equal(logged.code, 2, logged.stderr);
      assert.ok(logged.stderr.includes(`drop ${named}`), logged.stderr);
      assert.match(logged.stderr, /--head log migrate --to/);
    }
    const none = await sk(["history", "--json"], { cwd, env });
    assert.deepEqual(JSON.parse(none.stdout).revisions, [], "nothing was imported by the refused runs");
  });

  it("--layout unobin reads the original folder in place: history, show, diff, pull; writes are refused; the folder untouched", async () => {
    const cwd = tempDir("unobin-cli");
    const key = newUnobinKey();
    const { url, plain } = unobinFolder(key);
    const root = fileURLToPath(url);
    const before = fingerprint(root);
    const env = stackEnv({ UNOBIN_KEY: key });
    const inPlace = ["--store", url, "--layout", "unobin", "--unobin-key-env", "UNOBIN_KEY"];
    const history = await sk([...inPlace, "history", "--json"], { cwd, env });
    assert.equal(history.code, 0, history.stderr);
    const h = JSON.parse(history.stdout);
    assert.equal(h.current, R3);
    assert.deepEqual(
      h.revisions.map((r: { rev: string; entries: number; current: boolean }) => [
        r.rev,
        r.entries,
        r.current,
      ]),
      [
        [R1, 3, false],
        [R2, 3, false],
        [R3, 2, true],
      ],
    );
    const show = await sk([...inPlace, "show", R2], { cwd, env });
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /data-source\.ami\s+leaf\s+data-source:aws\.ami/);
    const diff = await sk([...inPlace, "diff", R1, "--json"], { cwd, env });
    assert.equal(diff.code, 0, diff.stderr);
    assert.equal(JSON.parse(diff.stdout).changed, true);
    const pulled = await sk([...inPlace, "pull", R2], { cwd, env });
    assert.equal(pulled.stdout, new TextDecoder().decode(plain[1]?.plaintext));

    const push = await sk([...inPlace, "push", V1], { cwd, env });
    assert.equal(push.code, 2, push.stderr);
    assert.match(push.stderr, /--layout unobin reads an original unobin store in place, read-only/);
    const wrong = await sk(["--store", url, "--layout", "unobin", "history", "--json"], { cwd, env });
    assert.equal(wrong.code, 5, "without the key every revision is unreadable");
    assert.deepEqual(fingerprint(root), before);
  });
});
