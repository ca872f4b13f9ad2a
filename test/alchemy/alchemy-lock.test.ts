// Two deploys of one stage at once, and a deploy killed with SIGKILL mid-run: the real Alchemy
// app in child processes on the file store, held mid-run by a gate file the test creates.
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { alchemyResourceHistory } from "../../src/alchemy/index.js";
import { runApp, stageBackend, startApp, statekeeperState, tempDir } from "./helpers.js";

async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 6000 && !check(); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(check(), `gave up waiting for ${what}`);
}

describe("statekeeperStateStore locking", () => {
  it("a second deploy of the stage waits for the first, or fails naming it; never interleaves", async () => {
    const dir = tempDir("lock");
    const store = `file:${join(dir, "state")}`;
    const gate = join(dir, "gate");
    const backend = await stageBackend(store);
    const a = startApp({ OUT_DIR: join(dir, "a"), SK_STORE: store, HOLD_UNTIL: gate });
    await a.holding;
    const holder = await backend.lockInfo();
    assert.equal(holder?.pid, a.child.pid, "the running deploy holds the stage's lock");
    const revsBefore = (await backend.list()).length;

    // A deploy that may wait one second fails, naming the holder, and writes nothing.
    const impatient = await runApp({ OUT_DIR: join(dir, "b"), SK_STORE: store, LOCK_TIMEOUT_MS: "1000" });
    assert.notEqual(impatient.code, 0);
    assert.match(impatient.stderr, /Alchemy app "skapp" stage "test" is locked by .*pid \d+/);
    assert.ok(impatient.stderr.includes(`pid ${a.child.pid}`), impatient.stderr);
    assert.equal((await backend.list()).length, revsBefore, "the refused deploy wrote no revision");
    assert.equal(existsSync(join(dir, "b", "dir")), false, "nor created any resource");

    // A patient one waits; once the first finishes, it deploys over the first one's state.
    const patient = startApp({ OUT_DIR: join(dir, "a"), SK_STORE: store, APP_VARIANT: "v2", POLL_MS: "100" });
    let waitingSeen = false;
    patient.child.stderr?.on("data", (d: Buffer) => {
      if (d.toString().includes("waiting up to")) waitingSeen = true;
    });
    await until("the second deploy to wait", () => waitingSeen);
    assert.equal((await backend.lockInfo())?.pid, a.child.pid);
    writeFileSync(gate, "");
    const [ra, rb] = await Promise.all([a.done, patient.done]);
    assert.equal(ra.code, 0, ra.stderr);
    assert.equal(rb.code, 0, rb.stderr);

    const state = await statekeeperState(backend);
    assert.deepEqual([...state.keys()].sort(), ["dir", "extra", "readme", "token"]);
    for (const s of state.values())
      assert.ok(s.status === "created" || s.status === "updated", String(s.status));
    assert.equal(readFileSync(join(dir, "a", "dir", "readme.txt"), "utf8"), "hello v2");
    // The first deploy's states all come before the second's: created (v1), then updating/updated (v2).
    const readme = await alchemyResourceHistory(backend, "readme");
    const seq = readme.map(
      (h) => `${h.status}:${(h.state?.props as { content?: string } | undefined)?.content}`,
    );
    assert.deepEqual(
      seq.slice(-3),
      ["created:hello v1", "updating:hello v2", "updated:hello v2"],
      JSON.stringify(seq),
    );
    assert.equal(await backend.lockInfo(), undefined);
  });

  it("a deploy killed with SIGKILL mid-run: the next run takes its lock over after the lease and converges", async () => {
    const dir = tempDir("kill");
    const store = `file:${join(dir, "state")}`;
    const out = join(dir, "out");
    const backend = await stageBackend(store);
    const lease = { LEASE_MS: "1500", POLL_MS: "100" };
    const crashed = startApp({ OUT_DIR: out, SK_STORE: store, HOLD_UNTIL: join(dir, "never"), ...lease });
    await crashed.holding;
    crashed.child.kill("SIGKILL");
    const killed = await crashed.done;
    assert.equal(killed.code, null);
    const stale = await backend.lockInfo();
    assert.equal(stale?.pid, crashed.child.pid, "the killed deploy's lock is still there");
    const partial = await statekeeperState(backend);
    assert.ok(partial.has("readme") && !partial.has("extra"), [...partial.keys()].join(","));

    const rerun = await runApp({ OUT_DIR: out, SK_STORE: store, LOCK_TIMEOUT_MS: "120000", ...lease });
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.ok(
      rerun.stderr.includes(`pid ${crashed.child.pid}`),
      `it waited for the dead holder:\n${rerun.stderr}`,
    );
    const state = await statekeeperState(backend);
    assert.deepEqual([...state.keys()].sort(), ["dir", "extra", "readme", "token"]);
    for (const s of state.values())
      assert.ok(s.status === "created" || s.status === "updated", String(s.status));
    assert.equal(readFileSync(join(out, "extra.txt"), "utf8"), "extra");
    assert.equal(await backend.lockInfo(), undefined);
  });

  it("an app that never calls finalize() still releases its lock when it ends", async () => {
    const dir = tempDir("no-finalize");
    const store = `file:${join(dir, "state")}`;
    const backend = await stageBackend(store);
    // A lease far longer than the test: only the release itself can free the lock.
    const run = await runApp({
      OUT_DIR: join(dir, "out"),
      SK_STORE: store,
      SKIP_FINALIZE: "1",
      LEASE_MS: "600000",
    });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(await backend.lockInfo(), undefined, "the lock was released as the process ended");
    const state = await statekeeperState(backend);
    assert.deepEqual(
      [...state.keys()].sort(),
      ["dir", "extra", "readme", "token"],
      "and every change was committed",
    );
  });
});
