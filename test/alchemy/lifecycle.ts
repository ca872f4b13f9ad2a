// The lifecycle of a real Alchemy app — deploy, update, remove a resource, destroy — on a
// statekeeper store, side by side with the same app on Alchemy's FileSystemStateStore, checking
// the stored state after each phase. Shared by the file-store and the S3 (RGW) test files.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { alchemyResourceHistory } from "../../src/alchemy/index.js";
import { comparable, fsState, runAppOk, stageBackend, statekeeperState, tempDir } from "./helpers.js";

const RESOURCES = ["dir", "extra", "readme", "token"];

/** `baseline`: run the same phases on FileSystemStateStore too and compare after each. */
export async function lifecycle(
  skStore: string,
  label: string,
  options: { baseline: boolean },
): Promise<void> {
  const skOut = tempDir(`${label}-sk`);
  const fsOut = tempDir(`${label}-fs`);
  const fsRoot = join(fsOut, ".alchemy");
  const backend = await stageBackend(skStore);
  const phase = async (vars: Record<string, string>, what: string) => {
    const [sk] = await Promise.all([
      runAppOk({ ...vars, OUT_DIR: skOut, SK_STORE: skStore }, `${what} (statekeeper)`),
      options.baseline
        ? runAppOk(
            { ...vars, OUT_DIR: fsOut, APP_STATE: "fs", FS_ROOT: fsRoot },
            `${what} (FileSystemStateStore)`,
          )
        : undefined,
    ]);
    const skState = await statekeeperState(backend);
    if (options.baseline)
      assert.deepEqual(
        comparable(skState, skOut),
        comparable(fsState(fsRoot), fsOut),
        `${what}: same resources in both stores`,
      );
    assert.equal(await backend.lockInfo(), undefined, `${what}: the lock is released at the end of the run`);
    return { sk, skState };
  };

  // 1. Deploy.
  const v1 = await phase({ APP_VARIANT: "v1" }, "deploy");
  assert.deepEqual([...v1.skState.keys()].sort(), RESOURCES);
  for (const s of v1.skState.values()) assert.equal(s.status, "created");
  assert.equal(readFileSync(join(skOut, "dir", "readme.txt"), "utf8"), "hello v1");
  const token = JSON.parse(v1.sk.stdout.trim().split("\n").pop() ?? "{}").token as string;
  assert.equal(token.length, 32);
  // Alchemy's secret is stored as Alchemy sealed it: the token's plaintext is nowhere in the state.
  const tokenState = JSON.stringify(v1.skState.get("token"));
  assert.ok(tokenState.includes("@secret"), tokenState);
  assert.ok(!tokenState.includes(token), "the RandomString's value is stored encrypted by Alchemy");

  // 2. Update: the file's content changes; the token is read back through deserialize unchanged.
  const v2 = await phase({ APP_VARIANT: "v2" }, "update");
  assert.equal(readFileSync(join(skOut, "dir", "readme.txt"), "utf8"), "hello v2");
  assert.equal(v2.skState.get("readme")?.status, "updated");
  assert.equal(JSON.parse(v2.sk.stdout.trim().split("\n").pop() ?? "{}").token, token);
  const history = await alchemyResourceHistory(backend, "readme");
  const contents = history.map((h) => (h.state?.props as { content?: string } | undefined)?.content);
  assert.ok(contents.includes("hello v1") && contents.includes("hello v2"), JSON.stringify(contents));
  assert.equal(history[0]?.change, "created");

  // 3. A resource removed from the app: its state and its file go (Alchemy deletes the orphan).
  const v3 = await phase({ APP_VARIANT: "v3" }, "remove a resource");
  assert.deepEqual([...v3.skState.keys()].sort(), ["dir", "readme", "token"]);
  assert.equal(existsSync(join(skOut, "extra.txt")), false);
  const extra = await alchemyResourceHistory(backend, "extra");
  assert.equal(extra[extra.length - 1]?.change, "deleted");

  // 4. Destroy (ends in process.exit inside alchemy()): nothing left, the lock released.
  const d = await phase({ APP_VARIANT: "v3", APP_PHASE: "destroy" }, "destroy");
  assert.deepEqual([...d.skState.keys()], []);
  assert.equal(existsSync(join(skOut, "dir")), false);
  // Every earlier state is still there: one revision per change, none rewritten.
  assert.ok((await backend.list()).length >= 12);
}
