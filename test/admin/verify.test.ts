import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type VerifyPhase, verifyStack } from "../../src/admin/index.js";
import { commitRevisions, newKey, open, recorder, rejectsWith, STORES } from "./support.js";

for (const { name, make } of STORES) {
  describe(`verifyStack (${name} store)`, () => {
    it("reports typed progress events, one per revision opened", async () => {
      const key = newKey();
      const backend = open(make(), key);
      await commitRevisions(backend, 3);
      const { events, onProgress } = recorder<VerifyPhase>();
      const report = await verifyStack(backend, { onProgress, concurrency: 1 });
      assert.equal(report.ok, true);
      assert.deepEqual(events, [
        { phase: "verifying", done: 0, total: 3 },
        { phase: "verifying", done: 1, total: 3 },
        { phase: "verifying", done: 2, total: 3 },
        { phase: "verifying", done: 3, total: 3 },
      ]);
    });

    it("an abort rejects with E_ABORTED, the reason as cause", async () => {
      const backend = open(make(), newKey());
      await commitRevisions(backend, 3);
      const controller = new AbortController();
      const err = await rejectsWith(
        verifyStack(backend, {
          concurrency: 1,
          signal: controller.signal,
          onProgress: (e) => {
            if (e.done === 1) controller.abort(new Error("no time"));
          },
        }),
        "E_ABORTED",
      );
      assert.equal((err.cause as Error).message, "no time");
    });
  });
}
