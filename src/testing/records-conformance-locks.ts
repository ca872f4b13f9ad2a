import assert from "node:assert/strict";
import { hostname } from "node:os";
import { hasErrorCode, LockedError } from "../errors.js";
import { lockKey } from "../records/keys.js";
import type { ConformanceTest, MakeStore } from "./conformance-api.js";
import { records } from "./records-fixtures.js";

const isLocked = (e: unknown) => hasErrorCode(e, "E_LOCKED");

/** Per-resource locks: create-only, fail at once, only the holder unlocks. */
export function recordLockConformance(t: Required<ConformanceTest>, makeStore: MakeStore): void {
  t.test("a second lock fails at once naming the holder and since when", async () => {
    const { rs } = await records(makeStore);
    const held = await rs.lock("db", { operation: "apply" });
    assert.match(held.id, /^[0-9a-f]{32}$/);
    assert.equal(held.resourceId, "db");
    await assert.rejects(rs.lock("db", { operation: "destroy" }), (e) => {
      assert.ok(e instanceof LockedError);
      assert.equal(e.code, "E_LOCKED");
      assert.deepEqual(e.holder, held.holder);
      assert.ok(e.message.includes(held.holder.since), e.message);
      assert.ok(e.message.includes(hostname()), e.message);
      assert.ok(e.message.includes("apply"), e.message);
      return true;
    });
    const info = await rs.lockInfo("db");
    assert.deepEqual(info, held.holder);
    assert.equal(info?.pid, process.pid);
    assert.equal(info?.operation, "apply");
  });

  t.test("locks on different ids are independent; unlock frees the id for the next taker", async () => {
    const { rs } = await records(makeStore);
    const a = await rs.lock("a/b");
    const b = await rs.lock("a_b");
    const c = await rs.lock("a");
    assert.equal(new Set([a.id, b.id, c.id]).size, 3);
    await rs.unlock("a/b", a);
    const again = await rs.lock("a/b");
    assert.notEqual(again.id, a.id);
    await assert.rejects(rs.lock("a_b"), isLocked);
    await rs.unlock("a_b", b.id);
    assert.equal(await rs.lockInfo("a_b"), undefined);
  });

  t.test("of many concurrent lockers exactly one wins", async () => {
    const { rs } = await records(makeStore);
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => rs.lock("hot")));
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
    for (const r of results) if (r.status === "rejected") assert.ok(isLocked(r.reason), String(r.reason));
  });

  t.test("unlock refuses someone else's lock and an unlocked id", async () => {
    const { rs } = await records(makeStore);
    await assert.rejects(rs.unlock("free", "0".repeat(32)), (e) => hasErrorCode(e, "E_NOT_FOUND"));
    const mine = await rs.lock("res");
    await rs.forceUnlock("res");
    const theirs = await rs.lock("res");
    await assert.rejects(rs.unlock("res", mine), isLocked);
    assert.deepEqual(await rs.lockInfo("res"), theirs.holder, "the successor's lock is left in place");
    await assert.rejects(rs.unlock("other", theirs), (e) => hasErrorCode(e, "E_INVALID_ARGUMENT"));
    await rs.unlock("res", theirs);
    await assert.rejects(rs.unlock("res", theirs), (e) => hasErrorCode(e, "E_NOT_FOUND"));
  });

  t.test("force-unlock removes any lock and is fine with none", async () => {
    const { rs } = await records(makeStore);
    assert.equal(await rs.forceUnlock("none"), undefined);
    const held = await rs.lock("stuck", { operation: "apply" });
    assert.deepEqual(await rs.forceUnlock("stuck"), held.holder);
    assert.equal(await rs.lockInfo("stuck"), undefined);
    await rs.lock("stuck");
  });

  t.test(
    "unlock(id) without a lock id is the force form: removes any holder's lock and returns it",
    async () => {
      const { rs } = await records(makeStore);
      const held = await rs.lock("res", { operation: "apply" });
      assert.deepEqual(await rs.unlock("res"), held.holder);
      assert.equal(await rs.lockInfo("res"), undefined);
      await assert.rejects(rs.unlock("res"), (e) => hasErrorCode(e, "E_NOT_FOUND"));
      const again = await rs.lock("res");
      assert.deepEqual(await rs.unlock("res", again), again.holder, "the handle form returns the holder too");
    },
  );

  t.test("an unreadable lock object is never taken as acquired", async () => {
    const { store, rs } = await records(makeStore);
    await store.put(lockKey(rs.prefix, "junk"), new TextEncoder().encode("garbage"));
    await assert.rejects(rs.lock("junk"), (e) => e instanceof LockedError && e.holder === undefined);
    await assert.rejects(rs.lockInfo("junk"), (e) => hasErrorCode(e, "E_CORRUPT"));
    assert.equal(await rs.forceUnlock("junk"), undefined);
    await rs.lock("junk");
  });

  t.test("locks and records do not interfere", async () => {
    const { rs } = await records(makeStore);
    await rs.lock("r");
    assert.equal(await rs.get("r"), undefined);
    await rs.save({ resource_id: "r", status: "planned" });
    assert.equal((await rs.get("r"))?.state.status, "planned");
    await rs.delete("r");
    assert.ok(await rs.lockInfo("r"), "deleting a record leaves its lock");
  });
}
