import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type MigratePhase, migrateStack, verifyStack } from "../../src/admin/index.js";
import { commitRevisions, newKey, open, recorder, rejectsWith, STORES, snapshot } from "./support.js";

for (const { name: from, make: makeSource } of STORES)
  for (const { name: to, make: makeTarget } of STORES) {
    describe(`migrateStack (${from} → ${to})`, () => {
      it("copies every revision with its name and parent, then current; re-sealed with the target's key; a re-run copies nothing", async () => {
        const sourceKey = newKey();
        const targetKey = newKey();
        const source = open(makeSource(), sourceKey);
        const revs = await commitRevisions(source, 3);
        const orphan = await source.write(snapshot(["orphan"]));
        const targetStore = makeTarget();
        const { events, onProgress } = recorder<MigratePhase>();
        const report = await migrateStack(source, open(targetStore, targetKey), { onProgress });
        assert.deepEqual(report, {
          factory: "webshop",
          stack: "prod",
          revisions: 4,
          copied: 4,
          alreadyPresent: 0,
          current: revs[2],
          verified: true,
          sourceAdvanced: false,
        });
        const all = [...revs, orphan];
        assert.deepEqual(events, [
          { phase: "comparing", done: 0, total: 0 },
          { phase: "copying", done: 0, total: 4 },
          ...all.map((rev, i) => ({ phase: "copying", done: i + 1, total: 4, rev })),
          { phase: "verifying", done: 0, total: 4 },
          ...all.map((rev, i) => ({ phase: "verifying", done: i + 1, total: 4, rev })),
        ]);
        const target = open(targetStore, targetKey);
        assert.deepEqual(await target.list(), all);
        assert.equal(await target.currentRev(), revs[2]);
        for (const rev of all) {
          const [a, b] = await Promise.all([source.readRevision(rev), target.readRevision(rev)]);
          assert.deepEqual(b.snapshot, a.snapshot, rev);
          assert.equal(b.parentRevision, a.parentRevision, rev);
          assert.equal(b.sealedWith, targetKey.keyId, rev);
        }
        const verified = await verifyStack(target);
        assert.equal(verified.ok, true, JSON.stringify(verified.problems));
        assert.deepEqual(verified.orphans, [orphan], "the copy keeps the line of history");
        assert.equal(await target.lockInfo(), undefined, "the target's lock is released");

        const again = await migrateStack(source, open(targetStore, targetKey));
        assert.deepEqual([again.copied, again.alreadyPresent], [0, 4]);
      });

      it("an abort midway leaves the target's current unmoved; a re-run completes the copy", async () => {
        const source = open(makeSource(), newKey());
        const revs = await commitRevisions(source, 4);
        const targetKey = newKey();
        const targetStore = makeTarget();
        for (const stopAt of ["copying", "verifying"] as const) {
          const controller = new AbortController();
          const err = await rejectsWith(
            migrateStack(source, open(targetStore, targetKey), {
              signal: controller.signal,
              onProgress: (e) => {
                if (e.phase === stopAt && e.done === 2) controller.abort(new Error(`stop while ${stopAt}`));
              },
            }),
            "E_ABORTED",
          );
          assert.equal((err.cause as Error).message, `stop while ${stopAt}`);
          const target = open(targetStore, targetKey);
          await rejectsWith(target.currentRev(), "E_NO_CURRENT");
          assert.equal(await target.lockInfo(), undefined, "the target's lock is released after an abort");
          // What was copied is whole: every copied revision opens and matches the source.
          for (const rev of await target.list())
            assert.deepEqual(await target.get(rev), await source.get(rev), rev);
        }
        const done = await migrateStack(source, open(targetStore, targetKey));
        assert.equal(done.current, revs[3]);
        assert.equal(done.copied + done.alreadyPresent, 4);
        assert.equal(await open(targetStore, targetKey).currentRev(), revs[3]);
      });

      it("refuses a target with a history of its own before writing anything", async () => {
        const key = newKey();
        const source = open(makeSource(), key);
        await commitRevisions(source, 2);
        const targetStore = makeTarget();
        const theirs = await commitRevisions(open(targetStore, key), 1);
        const err = await rejectsWith(migrateStack(source, open(targetStore, key)), "E_CONFLICT");
        assert.match(err.message, /the target webshop\/prod already has 1 revision\(s\) the source lacks/);
        assert.deepEqual(await open(targetStore, key).list(), theirs, "nothing was written");
      });
    });
  }

describe("migrateStack: arguments", () => {
  it("refuses a target of another stack, and an empty source", async () => {
    const [{ make }] = STORES as [(typeof STORES)[0]];
    const key = newKey();
    const source = open(make(), key);
    await rejectsWith(migrateStack(source, open(make(), key, "staging")), "E_INVALID_ARGUMENT");
    const err = await rejectsWith(migrateStack(source, open(make(), key)), "E_NOT_FOUND");
    assert.match(err.message, /nothing to migrate: webshop\/prod has no revisions/);
  });
});
