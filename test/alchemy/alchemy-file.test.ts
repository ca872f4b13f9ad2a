// Alchemy's StateStore on statekeeper, with a real Alchemy app in child processes, on the file store.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { generateKey, keyEncrypter } from "../../src/crypto/key.js";
import { runAppOk, stageBackend, statekeeperState, tempDir } from "./helpers.js";
import { lifecycle } from "./lifecycle.js";

describe("statekeeperStateStore on the file store", () => {
  it("deploy, update, remove a resource, destroy: the same resources as FileSystemStateStore", async () => {
    await lifecycle(`file:${join(tempDir("file"), "state")}`, "file", { baseline: true });
  });

  it("with an encrypter, every revision is sealed at rest; Alchemy's own secret sealing is kept inside", async () => {
    const dir = tempDir("sealed");
    const store = `file:${join(dir, "state")}`;
    const SK_KEY = generateKey();
    await runAppOk({ OUT_DIR: join(dir, "out"), SK_STORE: store, SK_KEY }, "deploy with a key");
    // Every object of the stage's stack: its log (one entry per revision, lock and unlock), the
    // log's hint, and any chunks.
    const stack = join(dir, "state", "skapp", "test");
    const files = readdirSync(stack, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath, e.name));
    assert.ok(files.filter((f) => f.includes(`${join("test", "log")}`)).length >= 10, files.join(","));
    for (const f of files) {
      const bytes = readFileSync(f, "latin1");
      for (const plain of ["hello v1", "fs::File", "readme.txt", "@secret"])
        assert.ok(!bytes.includes(plain), `${f} shows ${plain}`);
    }
    const sealed = await statekeeperState(
      await stageBackend(store, "test", keyEncrypter({ envVar: "SK_KEY", env: { SK_KEY } })),
    );
    assert.equal((sealed.get("readme")?.props as { content?: string } | undefined)?.content, "hello v1");
    assert.ok(JSON.stringify(sealed.get("token")).includes("@secret"));
    await assert.rejects(statekeeperState(await stageBackend(store)), { code: "E_DECRYPT" });
  });
});
