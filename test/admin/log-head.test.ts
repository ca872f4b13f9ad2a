// The admin tools on stacks headed by a log (`head: "log"`): listing, prune, verify, rekey,
// rollback and migrate read and write them through the backend, as they do pointer stacks.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { listStacks, migrateStack, pruneStack, rekeyStack, verifyStack } from "../../src/admin/index.js";
import { rollbackStack } from "../../src/admin/rollback.js";
import { type Backend, createBackend } from "../../src/backend/index.js";
import { keyring } from "../../src/crypto/index.js";
import type { Encrypter } from "../../src/crypto/types.js";
import { hasErrorCode } from "../../src/errors.js";
import type { ObjectStore } from "../../src/objectstore/types.js";
import { FACTORY, newKey, STACK, STORES, snapshot } from "./support.js";

const openLog = (store: ObjectStore, encrypter: Encrypter | undefined, stack = STACK): Backend =>
  createBackend(store, {
    factory: FACTORY,
    stack,
    ...(encrypter === undefined ? {} : { encrypter }),
    head: "log",
    // Small chunks: a few entries make a chunked format-2 revision, so prune sweeps chunks.
    chunkTargetBytes: 64,
    lockDefaults: { leaseMs: 30_000, pollMs: 20 },
  });

const addresses = (n: number) => Array.from({ length: n }, (_, i) => `r${i}`);

for (const { name, make } of STORES) {
  describe(`admin tools on a stack headed by a log (${name} store)`, () => {
    it("listStacks reads a log stack through its head: current, author, revisions, lock holder", async () => {
      const store = make();
      const key = newKey();
      const logged = openLog(store, key);
      const revs: string[] = [];
      for (let i = 1; i <= 3; i++) revs.push(await logged.commit(snapshot(addresses(i))));
      const pointerStack = createBackend(store, {
        factory: FACTORY,
        stack: "old",
        encrypter: key,
        head: "pointer",
      });
      const oldRev = await pointerStack.commit(snapshot(["x"], "old"));
      const lock = await logged.lock({ operation: "apply" });
      try {
        const rows = await listStacks(store);
        const row = rows.find((r) => r.stack === STACK);
        assert.deepEqual(
          [row?.current, row?.revisions, row?.locked, row?.holder?.id, row?.holder?.operation],
          [revs[2], 3, true, lock.id, "apply"],
        );
        assert.match(row?.by ?? "", /.@./);
        assert.ok((row?.size ?? 0) > 0);
        assert.equal(rows.find((r) => r.stack === "old")?.current, oldRev, "a pointer stack beside it");
        const uncounted = await listStacks(store, { revisions: false });
        assert.equal(uncounted.find((r) => r.stack === STACK)?.current, revs[2]);
      } finally {
        await lock.unlock();
      }
      // A `current` beside the log: which revision is current is not known, and the listing says so.
      await store.put(`${FACTORY}/${STACK}/current`, (await store.get(`${FACTORY}/old/current`))!.body);
      await assert.rejects(listStacks(store), (e) => hasErrorCode(e, "E_CORRUPT"));
    });

    it("prune deletes old commit entries and sweeps their chunks; verify then finds nothing wrong", async () => {
      const store = make();
      const key = newKey();
      const backend = openLog(store, key);
      const revs: string[] = [];
      for (let i = 0; i < 6; i++)
        revs.push(await backend.commit(snapshot(addresses(8).map((a) => `${a}.${i}`))));
      const chunksBefore = await count(store, `${FACTORY}/${STACK}/chunks/`);
      const report = await pruneStack(backend, { keep: 2, chunkGraceMs: 0 });
      assert.deepEqual(report.deleted, revs.slice(0, 4));
      assert.deepEqual(await backend.list(), revs.slice(4));
      assert.ok(report.chunks.deleted > 0, "the deleted revisions' chunks were swept");
      assert.equal(await count(store, `${FACTORY}/${STACK}/chunks/`), chunksBefore - report.chunks.deleted);
      const fresh = openLog(store, undefined);
      assert.equal(await fresh.currentRev(), revs[5]);
      const verified = await verifyStack(openLog(store, key));
      assert.deepEqual([verified.ok, verified.revisions, verified.problems], [true, 2, []]);
      // A commit after the prune appends after the newest entry, not into a hole.
      const next = await backend.commit(snapshot(["after-prune"]));
      assert.ok(Number(next) > Number(revs[5]));
      assert.deepEqual(await backend.list(), [...revs.slice(4), next]);
    });

    it("verify reports a damaged commit entry, naming its revision", async () => {
      const store = make();
      const key = newKey();
      const backend = openLog(store, key);
      const first = await backend.commit(snapshot(["a"]));
      await backend.commit(snapshot(["b"]));
      assert.equal((await verifyStack(openLog(store, key))).ok, true);
      const entryKey = `${FACTORY}/${STACK}/log/${"0".repeat(16)}/${first.padStart(16, "0")}`;
      const body = Uint8Array.from((await store.get(entryKey))!.body);
      body[body.byteLength - 2]! ^= 1;
      await store.put(entryKey, body);
      const report = await verifyStack(openLog(store, key));
      assert.equal(report.ok, false);
      assert.deepEqual(
        report.problems.map((p) => [p.rev, p.code]),
        [[first, "E_CORRUPT"]],
      );
    });

    it("rekey re-seals every commit entry and chunk in place; rollback commits an older revision's content", async () => {
      const store = make();
      const oldKey = newKey();
      const newKeyEnc = newKey();
      const before = openLog(store, oldKey);
      const r1 = await before.commit(snapshot(addresses(8)));
      const r2 = await before.commit(snapshot(["two"]));
      const report = await rekeyStack(openLog(store, keyring(newKeyEnc, oldKey)));
      assert.deepEqual([report.revisions, report.resealed, report.failed], [2, 2, []]);
      assert.ok(report.chunks.resealed > 0);
      const after = openLog(store, newKeyEnc);
      assert.deepEqual(
        (await after.get(r1)).entries.map((e) => e.address),
        addresses(8),
      );
      assert.equal(await after.currentRev(), r2);
      await assert.rejects(openLog(store, oldKey).current(), (e) => hasErrorCode(e, "E_DECRYPT"));
      const rolled = await rollbackStack(after, async () => r1);
      assert.equal(rolled.unchanged, false);
      assert.deepEqual([rolled.from, rolled.previous], [r1, r2]);
      assert.deepEqual(
        (await openLog(store, newKeyEnc).current()).entries.map((e) => e.address),
        addresses(8),
      );
      assert.equal((await after.readRevision(rolled.rev)).parentRevision, r2);
    });

    it("migrate copies a log stack into a pointer stack under its names, and a pointer stack into a log renamed in order", async () => {
      const source = make();
      const key = newKey();
      const logged = openLog(source, key);
      const revs = [await logged.commit(snapshot(["a"])), await logged.commit(snapshot(["a", "b"]))];
      const target = make();
      const pointer = createBackend(target, {
        factory: FACTORY,
        stack: STACK,
        encrypter: key,
        head: "pointer",
      });
      const report = await migrateStack(logged, pointer);
      assert.deepEqual(
        [report.revisions, report.copied, report.current, report.renamed],
        [2, 2, revs[1], undefined],
      );
      assert.deepEqual(await pointer.list(), revs);
      assert.deepEqual(
        (await pointer.current()).entries.map((e) => e.address),
        ["a", "b"],
      );

      // A pointer stack whose current is not its newest revision (a rollback by setCurrent).
      const older = createBackend(make(), {
        factory: FACTORY,
        stack: STACK,
        encrypter: key,
        head: "pointer",
      });
      const p1 = await older.commit(snapshot(["one"]));
      const p2 = await older.commit(snapshot(["one", "two"]));
      const p3 = await older.commit(snapshot(["three"]));
      await older.setCurrent(p2);
      const intoLog = openLog(make(), key);
      const moved = await migrateStack(older, intoLog);
      // The lock entry is 1, the copies 2, 3, 4; the current (p2's copy, 3) is committed again as 5.
      assert.deepEqual(moved.renamed, { [p1]: "2", [p2]: "3", [p3]: "4" });
      assert.deepEqual([moved.copied, moved.current], [3, "5"]);
      assert.deepEqual(await intoLog.list(), ["2", "3", "4", "5"]);
      assert.deepEqual(
        (await intoLog.current()).entries.map((e) => e.address),
        ["one", "two"],
      );
      assert.deepEqual(
        await Promise.all(
          ["2", "3", "4", "5"].map(async (r) => (await intoLog.readRevision(r)).parentRevision),
        ),
        ["", "2", "3", "4"],
        "parents renamed with the revisions (p3 was committed on p2; the current's copy on the last)",
      );
      assert.equal((await verifyStack(openLog(intoLog.store, key))).ok, true);
      // Again into the same log: it has revisions now, and a log cannot tell what it copied before.
      await assert.rejects(migrateStack(older, openLog(intoLog.store, key)), (e) => {
        assert.ok(hasErrorCode(e, "E_CONFLICT"), String(e));
        assert.match(String((e as Error).message), /headed by a log and already has 4 revision/);
        return true;
      });
    });
  });
}

async function count(store: ObjectStore, prefix: string): Promise<number> {
  let n = 0;
  for await (const _ of store.list(prefix)) n++;
  return n;
}
