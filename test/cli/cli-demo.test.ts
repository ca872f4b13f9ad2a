// scripts/demo.sh (npm run demo) runs the main job end to end and can be run again in the same place.
import assert from "node:assert/strict";
import { join } from "node:path";
import { before, it } from "node:test";
import { ensureBuilt, ROOT, runCollected, tempDir } from "./helpers.js";

before(ensureBuilt);

function demo(cwd: string) {
  return runCollected("bash", [join(ROOT, "scripts", "demo.sh")], {
    cwd,
    env: { ...process.env, STATEKEEPER_STORE: "memory://ignored", STATEKEEPER_KEY: "" },
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
