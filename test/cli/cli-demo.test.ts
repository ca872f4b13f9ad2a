// scripts/demo.sh (npm run demo) runs the main job end to end and can be run again in the same place.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { before, it } from "node:test";
import { ensureBuilt, ROOT, tempDir } from "./helpers.js";

before(ensureBuilt);

function demo(cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [join(ROOT, "scripts", "demo.sh")], {
      cwd,
      env: { ...process.env, STATEKEEPER_STORE: "memory://ignored", STATEKEEPER_KEY: "" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

it("the demo pushes, diffs, rolls back and verifies on ./.statekeeper, and re-runs cleanly", async () => {
  const cwd = tempDir("demo");
  const first = await demo(cwd);
  assert.equal(first.code, 0, first.stderr);
  for (const step of ["push", "history", "show", "diff", "rollback --to", "verify", "stacks"])
    assert.match(first.stdout, new RegExp(`\\$ statekeeper ${step}`), step);
  assert.match(first.stdout, /ok: 3 revisions/);
  assert.match(first.stdout, /inputs\.password: "\(sensitive\)" → "\(sensitive\)"/);
  assert.doesNotMatch(first.stdout, /example-only/);
  const second = await demo(cwd);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /ok: 6 revisions/);
});
