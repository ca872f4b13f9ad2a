// The admin workflows on storage format 2 (issue 13): prune's garbage collection of chunks,
// rekey of chunks, migrate into format 2, verify naming the revisions a broken chunk breaks.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { migrateStack, pruneStack, rekeyStack, verifyStack } from "../../src/admin/index.js";
import { type Backend, createBackend } from "../../src/backend/index.js";
import { inspectEnvelope, keyring } from "../../src/crypto/index.js";
import type { Encrypter } from "../../src/crypto/types.js";
import type { ObjectStore } from "../../src/objectstore/types.js";
import type { Entry } from "../../src/snapshot/index.js";
import { FACTORY, newKey, STACK, STORES, snapshot } from "./support.js";

const PREFIX = `${FACTORY}/${STACK}/chunks/`;

function open2(store: ObjectStore, encrypter: Encrypter | undefined, format: 1 | 2 = 2): Backend {
  return createBackend(store, {
    factory: FACTORY,
    stack: STACK,
    ...(encrypter === undefined ? {} : { encrypter }),
    format,
    chunkTargetBytes: 1024,
    lockDefaults: { leaseMs: 30_000, pollMs: 20 },
    // Revision names kept by migrate: a pointer stack's (log-head.test.ts has the log's).
    head: "pointer",
  });
}

const entry = (i: number, n = 0): Entry => ({
  address: `aws.s3.bucket_${String(i).padStart(4, "0")}`,
  type: "leaf",
  kind: "aws:s3:Bucket",
  inputs: { n, pad: "x".repeat(100) },
});

async function chunkKeys(store: ObjectStore): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of store.list(PREFIX)) keys.push(o.key);
  return keys.sort();
}

/** A history of full commits and many one-entry changes (overlays and several checkpoints). */
async function history(backend: Backend): Promise<string[]> {
  const s = snapshot([]);
  s.entries = Array.from({ length: 300 }, (_, i) => entry(i));
  await backend.commit(s);
  for (let i = 0; i < 60; i++) await backend.commitChanges({ upsert: [entry((i * 37) % 300, i + 1)] });
  await backend.commitChanges({ remove: [entry(5).address], upsert: [entry(900)] });
  return backend.list();
}

for (const { name, make } of STORES) {
  describe(`admin on storage format 2 (${name} store)`, () => {
    it("prune sweeps the chunks no remaining revision needs; every kept revision reads and verifies", async () => {
      const store = make();
      const key = newKey();
      const backend = open2(store, key);
      const revs = await history(backend);
      const before = await chunkKeys(store);
      const keptRevs = revs.slice(-3);
      const expected = await Promise.all(keptRevs.map((r) => backend.get(r)));

      // Within the grace period nothing is swept.
      const young = await pruneStack(backend, { keep: 30 });
      assert.equal(young.chunks.deleted, 0);
      assert.ok(young.chunks.young > 0, "the pruned revisions left unneeded chunks");
      assert.deepEqual(await chunkKeys(store), before);

      const done = await pruneStack(backend, { keep: 3, chunkGraceMs: 0 });
      assert.equal(done.deleted.length, 30 - 3);
      assert.ok(done.chunks.deleted > 0, JSON.stringify(done.chunks));
      assert.equal(done.chunks.young, 0);
      const after = await chunkKeys(store);
      assert.equal(after.length, before.length - done.chunks.deleted);
      const fresh = open2(store, key);
      for (const [i, rev] of keptRevs.entries()) assert.deepEqual(await fresh.get(rev), expected[i]);
      const report = await verifyStack(fresh);
      assert.deepEqual(report.problems, []);
      // Another sweep finds nothing more to delete: what is left is needed.
      const again = await pruneStack(fresh, { keep: 3, chunkGraceMs: 0 });
      assert.deepEqual([again.deleted, again.chunks.deleted], [[], 0]);
    });

    it("prune keeps a young chunk no manifest names yet (a commit in flight) and sweeps it once old", async () => {
      const store = make();
      const key = newKey();
      const backend = open2(store, key);
      await history(backend);
      // A commit in flight: its chunk is written, its manifest not yet.
      const orphan = `${PREFIX}0123456789abcdef0123456789abcdef`;
      await store.put(orphan, new Uint8Array([1, 2, 3]));
      const kept = await pruneStack(backend, { keep: 1000 });
      assert.ok((await chunkKeys(store)).includes(orphan));
      assert.ok(kept.chunks.young >= 1);
      await pruneStack(backend, { keep: 1000, chunkGraceMs: 0 });
      assert.ok(!(await chunkKeys(store)).includes(orphan));
    });

    it("prune deletes no chunk when a revision cannot be opened: what it needs is unknown", async () => {
      const store = make();
      const key = newKey();
      const backend = open2(store, key);
      await history(backend);
      const before = await chunkKeys(store);
      // Without the key no manifest opens; revisions are still pruned, chunks are not swept.
      const done = await pruneStack(open2(store, newKey()), { keep: 2, chunkGraceMs: 0 });
      assert.ok(done.deleted.length > 0);
      assert.match(done.chunks.skipped ?? "", /cannot be opened/);
      assert.equal(done.chunks.deleted, 0);
      assert.deepEqual(await chunkKeys(store), before);
      assert.deepEqual((await verifyStack(open2(store, key))).problems, []);
    });

    it("rekey re-seals revisions and chunks; the old key opens nothing, the history reads the same", async () => {
      const store = make();
      const oldKey = newKey();
      const backend = open2(store, oldKey);
      const revs = await history(backend);
      const expected = await backend.get(revs.at(-1) as string);
      const newer = newKey();
      const report = await rekeyStack(open2(store, keyring(newer, oldKey)));
      assert.equal(report.resealed, revs.length);
      const keys = await chunkKeys(store);
      assert.deepEqual(
        [report.chunks.chunks, report.chunks.resealed, report.chunks.failed],
        [keys.length, keys.length, []],
      );
      for (const k of keys) {
        const got = await store.get(k);
        assert.equal(inspectEnvelope(got?.body as Uint8Array).keyId, newer.keyId);
      }
      assert.deepEqual(await open2(store, newer).current(), expected);
      await assert.rejects(open2(store, oldKey).current());
      assert.deepEqual((await verifyStack(open2(store, newer))).problems, []);
      // Idempotent: a second run re-seals nothing.
      const again = await rekeyStack(open2(store, newer));
      assert.deepEqual([again.resealed, again.chunks.resealed], [0, 0]);
    });

    it("migrate copies a format-1 stack into format 2 and a format-2 stack as it is, verified", async () => {
      const key = newKey();
      // A format-2 history of the same commits: the chunk count a copy that writes each chunk once has.
      const reference = make();
      await history(open2(reference, key, 2));
      const once = (await chunkKeys(reference)).length;
      for (const sourceFormat of [1, 2] as const) {
        const source = make();
        const revs = await history(open2(source, key, sourceFormat));
        const target = make();
        const report = await migrateStack(open2(source, key, sourceFormat), open2(target, key, 2));
        assert.equal(report.copied, revs.length);
        const t = open2(target, key);
        for (const rev of [revs[0], revs.at(-1)] as string[])
          assert.deepEqual(await t.get(rev), await open2(source, key).get(rev));
        assert.deepEqual((await verifyStack(t)).problems, []);
        // The copy is chunked and writes each chunk once (a chunk per revision would be 40× more).
        const chunks = (await chunkKeys(target)).length;
        assert.ok(chunks > 0 && chunks <= once * 1.25, `${chunks} chunks; a format-2 history has ${once}`);
        // A re-run copies nothing.
        const again = await migrateStack(open2(source, key, sourceFormat), open2(target, key, 2));
        assert.deepEqual([again.copied, again.alreadyPresent], [0, revs.length]);
      }
    });

    it("verify names every revision that needs a missing chunk", async () => {
      const store = make();
      const key = newKey();
      const backend = open2(store, key);
      const revs = await history(backend);
      // Remove one chunk the newest revisions share (a data chunk, not a list).
      const keys = await chunkKeys(store);
      let victim: string | undefined;
      for (const k of keys) {
        const got = await store.get(k);
        await store.delete(k);
        const broken = await Promise.all(
          revs.map((r) =>
            open2(store, key)
              .get(r)
              .then(
                () => false,
                () => true,
              ),
          ),
        );
        await store.put(k, got?.body as Uint8Array);
        if (broken.filter(Boolean).length >= 2) {
          victim = k;
          break;
        }
      }
      assert.ok(victim !== undefined);
      const needing: string[] = [];
      await store.delete(victim);
      for (const r of revs)
        if (
          await open2(store, key)
            .get(r)
            .then(
              () => false,
              () => true,
            )
        )
          needing.push(r);
      const report = await verifyStack(open2(store, key));
      const id = victim.slice(PREFIX.length);
      const named = report.problems.filter((p) => p.message.includes(id)).map((p) => p.rev);
      assert.deepEqual(named.sort(), needing.sort());
    });
  });
}
