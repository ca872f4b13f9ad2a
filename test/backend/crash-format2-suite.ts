// kill -9 of workers committing to a format-2 stack (overlays, checkpoints with two-level chunk
// lists, full commits, prunes that sweep chunks), at random moments: after every kill, `current`
// opens and checks, every revision left in the store opens (verifyStack, with a fresh backend so
// no cached chunk hides a missing one), and the committed sequence never goes backwards. Run on
// the file store (crossprocess-crash-format2.test.ts) and on RGW (…-s3.test.ts).
import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { verifyStack } from "../../src/admin/index.js";
import type { HeadMode } from "../../src/backend/index.js";
import { generateKey } from "../../src/crypto/index.js";
import { KEY_ENV } from "../fixtures/backend/common.js";
import { check, openFormat2 } from "../fixtures/backend/format2-state.js";
import { kill9, startWorker } from "../fixtures/backend/spawn.js";

export interface CrashSuiteOptions {
  /** A store URL per call (a fresh root or prefix). */
  url: () => string;
  lanes: number;
  killsPerLane: number;
  /** Kill delays after "ready" are spread over this window. */
  killWindowMs: number;
  /** Whether some kill must have landed while the lock was held (enough kills to be sure of it). */
  requireDiedHolding: boolean;
  /** The head the stacks get. Default "pointer". */
  head?: HeadMode;
}

export function crashFormat2Suite(name: string, o: CrashSuiteOptions): void {
  // Workers 0 and 4 of each lane complete a cycle before their kill, which is what makes "every
  // lane committed on top of its first state" (checked below) certain on a slow machine.
  if (o.killsPerLane < 5) throw new Error(`${name}: killsPerLane must be at least 5 (got ${o.killsPerLane})`);
  test(`${name}: kill -9 during format-2 commits and prunes, ${o.lanes * o.killsPerLane} times: current and every revision open`, async () => {
    const url = o.url();
    const head = o.head ?? "pointer";
    const env = { [KEY_ENV]: generateKey() };
    const backendEnv = { ...process.env, ...env };
    const open = (stack: string) => openFormat2(url, stack, backendEnv, head);
    const totals = { kills: 0, diedHolding: 0, checkpoints: 0 };
    const lane = async (stack: string) => {
      const observer = await open(stack);
      let lastSeq = 0;
      for (let k = 0; k < o.killsPerLane; k++) {
        const worker = startWorker("commit-loop-format2.ts", [url, stack, head], env);
        await worker.waitFor("ready");
        // Every fourth worker first completes a cycle, so each lane makes progress however slow the machine.
        if (k % 4 === 0) await worker.waitFor("committed");
        await sleep(Math.random() * o.killWindowMs);
        const exit = await kill9(worker);
        assert.equal(
          exit.signal,
          "SIGKILL",
          `the worker failed on its own before the kill: ${worker.stderr()}`,
        );
        totals.kills++;
        const holder = await observer.lockInfo();
        if (holder !== undefined) {
          assert.equal(holder.pid, worker.pid, "only the dead worker can hold this stack's lock");
          await observer.forceUnlock();
          totals.diedHolding++;
        }
        const fresh = await open(stack);
        const rev = await fresh.currentRev().catch(() => undefined);
        if (rev === undefined) {
          assert.equal(lastSeq, 0, "current never disappears once set");
          continue;
        }
        // A log-headed stack names its revisions by their entries' numbers.
        if (head === "log") assert.match(rev, /^[1-9][0-9]*$/, "the stack is headed by a log");
        const { seq } = check(await fresh.current());
        assert.ok(seq >= lastSeq, `current never moves backwards (${seq} < ${lastSeq})`);
        lastSeq = seq;
        const report = await verifyStack(await open(stack));
        assert.deepEqual(report.problems, [], `after kill ${k} of ${stack}`);
        assert.equal(report.ok, true);
        for (const r of report.orphans) assert.ok((await fresh.get(r)).entries.length > 0);
      }
      return lastSeq;
    };
    const seqs = await Promise.all(Array.from({ length: o.lanes }, (_, i) => lane(`crash2-${i}`)));
    for (const seq of seqs) assert.ok(seq > 1, "workers committed changes before being killed");
    console.log(
      `${name}: kills ${totals.kills}, died holding the lock ${totals.diedHolding}, committed seqs ${seqs.join(", ")}`,
    );
    if (o.requireDiedHolding) assert.ok(totals.diedHolding > 0, "some kills landed while the lock was held");
  });
}
