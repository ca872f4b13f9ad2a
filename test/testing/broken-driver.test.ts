// A driver that ignores preconditions must fail the conformance suites, and the run must end on
// its own: a failing test may not leave a timer or a waiter behind (it once left a simulated lock
// renewer running, and a broken driver's run never finished).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";

const ROOT = join(import.meta.dirname, "..", "..");

test("the four suites fail a driver that ignores preconditions, and the run ends", () => {
  // A test runner of its own: without this, node:test would treat the child as one of ours.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const r = spawnSync(
    process.execPath,
    [
      "--import",
      "tsx",
      "--test",
      "--test-reporter=tap",
      join("test", "fixtures", "testing", "broken-driver.test.ts"),
    ],
    // Far longer than the run takes (a few seconds); a run that does not end is killed and fails here.
    { cwd: ROOT, env, encoding: "utf8", timeout: 240_000, killSignal: "SIGKILL" },
  );
  assert.equal(r.signal, null, "the run ended on its own");
  assert.equal(r.status, 1, "the run failed");
  const count = (name: string) => Number(new RegExp(`^# ${name} (\\d+)$`, "m").exec(r.stdout)?.[1] ?? NaN);
  assert.ok(count("fail") >= 50, `many conformance tests failed the broken driver (fail ${count("fail")})`);
  assert.ok(count("pass") > 0, "tests that do not depend on preconditions still pass");
  assert.match(r.stdout, /E_UNSUPPORTED_STORE|PRECONDITION/);
});
