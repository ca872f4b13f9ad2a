// `statekeeper alchemy …` with the real binary: import an Alchemy .alchemy/ folder written by the
// real app on FileSystemStateStore, list and inspect it, keep deploying on statekeeper from it.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { ensureBuilt, sk } from "../cli/helpers.js";
import { fsState, runAppOk, stageBackend, statekeeperState, tempDir } from "./helpers.js";

before(ensureBuilt);

const lastJson = (stdout: string) => JSON.parse(stdout.trim().split("\n").pop() ?? "{}");

describe("statekeeper alchemy", () => {
  it("imports a FileSystemStateStore folder, verified; lists, shows history, restores; Alchemy deploys on from it", async () => {
    const dir = tempDir("cli");
    const out = join(dir, "out");
    const fsRoot = join(out, ".alchemy");
    const store = `file:${join(dir, "state")}`;
    const first = await runAppOk(
      { OUT_DIR: out, APP_STATE: "fs", FS_ROOT: fsRoot },
      "deploy on FileSystemStateStore",
    );
    const token = lastJson(first.stdout).token as string;

    const imp = await sk(
      ["--store", store, "alchemy", "import", "--from", fsRoot, "--app", "skapp", "--json"],
      {
        cwd: dir,
      },
    );
    assert.equal(imp.code, 0, imp.stderr);
    assert.deepEqual(
      JSON.parse(imp.stdout).stages.map((s: { stage: string; resources: number }) => [s.stage, s.resources]),
      [["test", 4]],
    );
    // Byte for byte what Alchemy wrote (same JSON text once parsed, key order included).
    const backend = await stageBackend(store);
    const imported = await statekeeperState(backend);
    for (const [k, s] of fsState(fsRoot)) assert.equal(JSON.stringify(imported.get(k)), JSON.stringify(s), k);

    const again = await sk(["--store", store, "alchemy", "import", "--from", fsRoot, "--app", "skapp"], {
      cwd: dir,
    });
    assert.equal(again.code, 4, "a second import into a stage with state is a conflict");
    assert.match(again.stderr, /already has state/);

    const stages = await sk(["--store", store, "alchemy", "stages", "--json"], { cwd: dir });
    assert.equal(stages.code, 0, stages.stderr);
    assert.deepEqual(
      JSON.parse(stages.stdout).stages.map((s: { app: string; stage: string; locked: boolean }) => [
        s.app,
        s.stage,
        s.locked,
      ]),
      [["skapp", "test", false]],
    );

    // Alchemy goes on from the imported state: the file is updated in place, the secret is the same.
    const next = await runAppOk(
      { OUT_DIR: out, SK_STORE: store, APP_VARIANT: "v2" },
      "update on statekeeper",
    );
    assert.equal(lastJson(next.stdout).token, token, "the RandomString was not re-created");
    assert.equal(readFileSync(join(out, "dir", "readme.txt"), "utf8"), "hello v2");

    const res = await sk(
      ["--store", store, "alchemy", "resources", "--app", "skapp", "--stage", "test", "--json"],
      {
        cwd: dir,
      },
    );
    assert.equal(res.code, 0, res.stderr);
    const rows = JSON.parse(res.stdout).resources as { address: string; kind: string; status: string }[];
    assert.deepEqual(
      rows.map((r) => [r.address, r.kind, r.status]),
      [
        ["dir", "fs::Folder", "created"],
        ["extra", "fs::File", "created"],
        ["readme", "fs::File", "updated"],
        ["token", "random::String", "created"],
      ],
    );

    const hist = await sk(
      ["--store", store, "--factory", "skapp", "--stack", "test", "alchemy", "history", "readme", "--json"],
      {
        cwd: dir,
      },
    );
    assert.equal(hist.code, 0, hist.stderr);
    const versions = JSON.parse(hist.stdout).versions as {
      rev: string;
      status: string;
      state: { props: { content: string } };
    }[];
    assert.equal(versions[0]?.state.props.content, "hello v1");
    assert.equal(versions[versions.length - 1]?.state.props.content, "hello v2");

    const restore = await sk(
      [
        "--store",
        store,
        "alchemy",
        "restore",
        "readme",
        "--app",
        "skapp",
        "--stage",
        "test",
        "--rev",
        versions[0]?.rev ?? "",
      ],
      { cwd: dir },
    );
    assert.equal(restore.code, 0, restore.stderr);
    const now = await statekeeperState(backend);
    assert.equal((now.get("readme")?.props as { content?: string } | undefined)?.content, "hello v1");
    assert.equal((now.get("token") as unknown as { output: unknown }).output !== undefined, true);
  });

  it("refuses what it cannot name before any I/O", async () => {
    const dir = tempDir("cli-bad");
    const noApp = await sk(["--store", `file:${join(dir, "s")}`, "alchemy", "resources", "--stage", "x"], {
      cwd: dir,
    });
    assert.equal(noApp.code, 2);
    assert.match(noApp.stderr, /--app NAME/);
    const badName = await sk(
      ["--store", `file:${join(dir, "s")}`, "alchemy", "history", "a", "--app", "../x", "--stage", "y"],
      {
        cwd: dir,
      },
    );
    assert.equal(badName.code, 2);
    assert.match(badName.stderr, /Alchemy app name/);
    const missing = await sk(
      ["--store", `file:${join(dir, "s")}`, "alchemy", "import", "--from", join(dir, "nope"), "--app", "a"],
      {
        cwd: dir,
      },
    );
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /no Alchemy app folder/);
  });
});
