// Storage format 2 (issue 13, first step): manifests over content-defined chunks, commitChanges,
// reads of both formats, chunk integrity and ids. Memory and file stores.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import fc from "fast-check";
import { verifyStack } from "../../src/admin/verify.js";
import { type Backend, type BackendOptions, createBackend } from "../../src/backend/backend.js";
import { LIST_LEAF_BYTES, listOneLevelMaxBytes } from "../../src/backend/chunk-store.js";
import { currentObject } from "../../src/backend/current.js";
import { backendInternals } from "../../src/backend/internals.js";
import { stackLayout } from "../../src/backend/layout.js";
import { keyEncrypter } from "../../src/crypto/key.js";
import { keyring } from "../../src/crypto/keyring.js";
import { noopEncrypter } from "../../src/crypto/noop.js";
import type { Encrypter } from "../../src/crypto/types.js";
import { isStateKeeperError } from "../../src/errors.js";
import { dirSyncCount } from "../../src/objectstore/file/fs-ops.js";
import { fileStore } from "../../src/objectstore/file.js";
import { memoryStore } from "../../src/objectstore/memory.js";
import type { ObjectStore } from "../../src/objectstore/types.js";
import { diffSnapshots, type Entry, type Snapshot } from "../../src/snapshot/index.js";
import { compareCodePoints } from "../../src/snapshot/revision.js";
import { interceptStore, recordingStore } from "../../src/testing/store-decorators.js";

const FACTORY = { name: "factory", version: "1.0.0", contentRevision: "abc" };

const entry = (address: string, n = 0, pad = 120): Entry => ({
  address,
  type: "leaf",
  kind: "aws:s3:Bucket",
  inputs: { name: address, n, pad: "x".repeat(pad) },
  outputs: { arn: `arn:aws:s3:::${address}` },
});

const snapshotOf = (entries: Entry[], outputs?: Snapshot["outputs"]): Snapshot => ({
  formatVersion: 1,
  factory: { ...FACTORY },
  stack: "stack",
  generatedAt: "2026-05-12T15:30:00.123456789Z",
  entries,
  ...(outputs === undefined ? {} : { outputs }),
});

const byAddress = (es: readonly Entry[]): Entry[] =>
  [...es].sort((a, b) => compareCodePoints(a.address, b.address));

/** A store that counts puts and the bytes they carry, by key. */
function countingStore(inner: ObjectStore) {
  const puts: { key: string; bytes: number }[] = [];
  const store: ObjectStore = {
    ...interceptStore(inner, () => undefined),
    name: inner.name,
    async put(key, body, opts) {
      puts.push({ key, bytes: body.byteLength });
      return inner.put(key, body, opts);
    },
  };
  return {
    store,
    puts,
    reset: () => void puts.splice(0),
    chunkPuts: () => puts.filter((p) => p.key.includes("/chunks/")),
    bytes: () => puts.reduce((n, p) => n + p.bytes, 0),
  };
}

async function rejectsNaming(p: Promise<unknown>, code: string, ...fragments: string[]): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isStateKeeperError(e), String(e));
    assert.equal(e.code, code, e.message);
    for (const f of fragments) assert.ok(e.message.includes(f), `${e.message} lacks ${f}`);
    return true;
  });
}

const stores: [string, () => ObjectStore][] = [
  ["memory", () => memoryStore()],
  ["file", () => fileStore(mkdtempSync(join(tmpdir(), "statekeeper-format2-")))],
];

for (const [storeName, makeStore] of stores) {
  describe(`format 2 (${storeName})`, () => {
    const open = (
      store: ObjectStore,
      extra: Partial<BackendOptions> = {},
      encrypter: Encrypter = noopEncrypter(),
    ): Backend =>
      createBackend(store, { factory: "factory", stack: "stack", encrypter, format: 2, ...extra });

    test("round trips: small (inline) and large (chunked) states, format 1 and 2 readable by either", async () => {
      const store = makeStore();
      const small = snapshotOf([entry("b"), entry("a")], { url: "https://x" });
      const large = snapshotOf(
        Array.from({ length: 600 }, (_, i) => entry(`res.${i}`, i)),
        { url: "https://y" },
      );
      const v2 = open(store);
      const v1 = open(store, { format: 1 });
      const revs = [await v2.commit(small), await v2.commit(large), await v1.commit(small)];
      // An unlocked writer fences against what it last saw: v2 reads what v1 did first.
      await v2.currentRev();
      revs.push(await v2.commit(large));
      const expected = [small, large, small, large];
      for (const reader of [open(store), open(store, { format: 1 })]) {
        for (const [i, rev] of revs.entries()) {
          const got = await reader.get(rev);
          assert.deepEqual(byAddress(got.entries), byAddress(expected[i]?.entries ?? []));
          assert.deepEqual(got.outputs, expected[i]?.outputs);
          assert.equal(got.generatedAt, small.generatedAt);
        }
        assert.deepEqual(byAddress((await reader.current()).entries), byAddress(large.entries));
        const history = await reader.history({ open: true });
        assert.deepEqual(
          history.revisions.map((r) => [r.entries, r.problem]),
          [
            [2, undefined],
            [600, undefined],
            [2, undefined],
            [600, undefined],
          ],
        );
        assert.deepEqual(
          history.revisions.map((r) => r.parentRevision),
          ["", revs[0], revs[1], revs[2]],
        );
      }
      // The large state is chunked; the small one holds no chunks.
      const chunkKeys: string[] = [];
      for await (const o of store.list("factory/stack/chunks/")) chunkKeys.push(o.key);
      assert.ok(chunkKeys.length >= 3, `${chunkKeys.length} chunks`);
    });

    test("a one-entry change of a 5 000-entry state writes its manifest only; a checkpoint now and then writes the changed chunks", async () => {
      const counting = countingStore(makeStore());
      const backend = open(counting.store);
      const entries = Array.from({ length: 5000 }, (_, i) => entry(`aws.s3.bucket_${i}`, i));
      await backend.commit(snapshotOf(entries));
      const stateBytes = counting.bytes();
      assert.ok(counting.chunkPuts().length > 10, `${counting.chunkPuts().length} chunks`);
      counting.reset();
      const rev = await backend.commitChanges({ upsert: [entry("aws.s3.bucket_2500", -1)] });
      // The manifest (with the change in its overlay), sealed into one commit entry of the
      // stack's log (the default head): nothing else.
      assert.deepEqual(
        counting.puts.map((p) => p.key.replace(/log\/.*/, "log/<seq>")),
        ["factory/stack/log/<seq>"],
      );
      assert.ok(counting.bytes() < 4096, `${counting.bytes()} bytes`);
      // A removal and an insertion, the same.
      counting.reset();
      await backend.commitChanges({ remove: ["aws.s3.bucket_17"], upsert: [entry("aws.s3.bucket_17a")] });
      assert.equal(counting.chunkPuts().length, 0);
      // commit(snapshot) of an unchanged state writes no chunk at all.
      counting.reset();
      const now = await backend.current();
      await backend.commit(now);
      assert.equal(counting.chunkPuts().length, 0);
      // Many one-entry changes: the overlay grows until a checkpoint folds it into chunks; the
      // bytes written per change stay a small fraction of the state.
      counting.reset();
      let checkpoints = 0;
      const changes = 300;
      for (let i = 0; i < changes; i++) {
        const before = counting.chunkPuts().length;
        await backend.commitChanges({ upsert: [entry(`aws.s3.bucket_${(i * 7919) % 5000}`, -2 - i)] });
        if (counting.chunkPuts().length > before) checkpoints++;
      }
      assert.ok(checkpoints >= 1 && checkpoints < changes / 10, `${checkpoints} checkpoints`);
      const perChange = counting.bytes() / changes;
      assert.ok(perChange < stateBytes / 20, `${perChange} bytes per change, state ${stateBytes}`);
      // A fresh backend reads it all back.
      const fresh = open(counting.store);
      const got = await fresh.get(rev);
      assert.equal(got.entries.length, 5000);
      assert.deepEqual(got.entries.find((e) => e.address === "aws.s3.bucket_2500")?.inputs?.n, -1);
      const cur = await fresh.current();
      assert.ok(cur.entries.some((e) => e.address === "aws.s3.bucket_17a"));
      assert.ok(!cur.entries.some((e) => e.address === "aws.s3.bucket_17"));
      const last = `aws.s3.bucket_${((changes - 1) * 7919) % 5000}`;
      assert.equal(cur.entries.find((e) => e.address === last)?.inputs?.n, -2 - (changes - 1));
      assert.deepEqual(byAddress(cur.entries), byAddress((await backend.current()).entries));
    });

    test("diff of two revisions of a 5 000-entry state reads only the chunks that differ", async () => {
      const inner = makeStore();
      const backend = open(inner);
      const entries = Array.from({ length: 5000 }, (_, i) => entry(`aws.s3.bucket_${i}`, i));
      const first = await backend.commit(snapshotOf(entries));
      // Enough changes for a checkpoint (new chunks and list) and an overlay on top of it, all in
      // one region of the address space ("aws.s3.bucket_2000" … "aws.s3.bucket_2149").
      for (let i = 0; i < 150; i++)
        await backend.commitChanges({ upsert: [entry(`aws.s3.bucket_${2000 + i}`, -1 - i)] });
      await backend.commitChanges({ remove: ["aws.s3.bucket_4999"], upsert: [entry("aws.s3.bucket_new")] });
      const last = await backend.currentRev();
      const gets: string[] = [];
      const counted: ObjectStore = {
        ...interceptStore(inner, () => undefined),
        name: inner.name,
        async get(key) {
          gets.push(key);
          return inner.get(key);
        },
      };
      const reader = open(counted);
      const d = await reader.diff(first, last);
      const chunkGets = gets.filter((k) => k.includes("/chunks/")).length;
      let chunks = 0;
      for await (const o of inner.list("factory/stack/chunks/")) if (o.size > 0) chunks++;
      // The lists of both revisions (root and leaves), and the few data chunks around the change.
      assert.ok(chunkGets <= 16, `${chunkGets} chunk reads of ${chunks} chunks and lists`);
      const full = diffSnapshots(await reader.get(first), await reader.get(last));
      const { unchanged, ...rest } = d;
      assert.deepEqual(rest, full);
      assert.deepEqual(
        [d.added.map((e) => e.address), d.removed.map((e) => e.address), d.changed.length],
        [["aws.s3.bucket_new"], ["aws.s3.bucket_4999"], 150],
      );
      assert.equal(unchanged, 5000 - 1 - 150);
    });

    test("a missing or corrupt chunk is E_CORRUPT naming the chunk and the revision", async () => {
      const store = makeStore();
      const backend = open(store, { chunkTargetBytes: 1024 });
      const rev = await backend.commit(snapshotOf(Array.from({ length: 300 }, (_, i) => entry(`e.${i}`))));
      const layout = stackLayout("", "factory", "stack");
      const keys: string[] = [];
      for await (const o of store.list(layout.chunksPrefix)) keys.push(o.key);
      const [first, second, third] = keys as [string, string, string];
      const id = (k: string) => k.slice(layout.chunksPrefix.length);
      // Missing.
      const saved = await store.get(first);
      await store.delete(first);
      await rejectsNaming(open(store).current(), "E_CORRUPT", id(first), rev, "missing");
      await rejectsNaming(open(store).get(rev), "E_CORRUPT", id(first));
      const history = await open(store).history({ open: true });
      assert.equal(history.revisions[0]?.problem?.code, "E_CORRUPT");
      await store.put(first, saved?.body ?? new Uint8Array());
      assert.equal((await open(store).current()).entries.length, 300);
      // A flipped byte: the envelope's own digest.
      const got = await store.get(second);
      const flipped = Uint8Array.from(got?.body ?? []);
      const at = flipped.length - 3;
      flipped[at] = (flipped[at] ?? 0) ^ 1;
      await store.put(second, flipped);
      await rejectsNaming(open(store).current(), "E_CORRUPT", id(second), rev);
      // Well sealed for its location, but other content: the manifest's digest.
      await store.put(
        third,
        await noopEncrypter().seal(new TextEncoder().encode("[]"), layout.chunkLocation(id(third))),
      );
      await store.put(second, got?.body ?? new Uint8Array());
      await rejectsNaming(open(store).current(), "E_CORRUPT", id(third), rev, "digest");
      // The backend that wrote it still has it cached; a commit on top refuses nothing it knows,
      // but a fresh one refuses to extend a current it cannot verify.
      await rejectsNaming(open(store).commitChanges({ upsert: [entry("new")] }), "E_CORRUPT", id(third));
    });

    test("chunk ids: SHA-256 of the plaintext under noop; random under a key (equal stacks differ)", async () => {
      const store = makeStore();
      const content = snapshotOf(Array.from({ length: 400 }, (_, i) => entry(`e.${i}`)));
      const noop = open(store, { chunkTargetBytes: 2048 });
      await noop.commit(content);
      const layout = stackLayout("", "factory", "stack");
      let n = 0;
      for await (const o of store.list(layout.chunksPrefix)) {
        const id = o.key.slice(layout.chunksPrefix.length);
        const sealed = await store.get(o.key);
        const plaintext = await noopEncrypter().open(
          sealed?.body ?? new Uint8Array(),
          layout.chunkLocation(id),
        );
        assert.equal(id, createHash("sha256").update(plaintext).digest("hex"));
        n++;
      }
      assert.ok(n > 3);
      const key = keyEncrypter({ key: randomBytes(32) });
      const ids = async (stack: string) => {
        const b = createBackend(store, {
          factory: "keyed",
          stack,
          encrypter: key,
          format: 2,
          chunkTargetBytes: 2048,
        });
        await b.commit({ ...content, factory: { ...FACTORY, name: "keyed" }, stack });
        const prefix = stackLayout("", "keyed", stack).chunksPrefix;
        const found = new Set<string>();
        for await (const o of store.list(prefix)) found.add(o.key.slice(prefix.length));
        return found;
      };
      const a = await ids("a");
      const b = await ids("b");
      assert.equal(a.size, n);
      assert.equal(b.size, n);
      for (const id of a) assert.ok(!b.has(id));
      // Not the digests either.
      const noopIds = new Set<string>();
      for await (const o of store.list(layout.chunksPrefix))
        noopIds.add(o.key.slice(layout.chunksPrefix.length));
      for (const id of a) assert.ok(!noopIds.has(id));
      // And it opens only under its own location: a chunk copied to another stack is refused.
      const reader = createBackend(store, { factory: "keyed", stack: "a", encrypter: key });
      assert.equal((await reader.current()).entries.length, 400);
    });

    test("a backend never re-reads chunks it wrote or read; a fresh one reads each once", async () => {
      const recorded = recordingStore(makeStore());
      const chunkGets = () =>
        recorded.calls.filter((c) => c.op === "get" && c.key.includes("/chunks/")).length;
      const backend = open(recorded.store, { chunkTargetBytes: 1024 });
      await backend.commit(snapshotOf(Array.from({ length: 300 }, (_, i) => entry(`e.${i}`))));
      for (let i = 0; i < 5; i++) await backend.commitChanges({ upsert: [entry(`e.${i * 37}`, i)] });
      assert.equal((await backend.current()).entries.length, 300);
      assert.equal(chunkGets(), 0);
      const fresh = open(recorded.store, { chunkTargetBytes: 1024 });
      await fresh.current();
      const once = chunkGets();
      assert.ok(once > 10, `${once} chunk reads`);
      await fresh.commitChanges({ remove: ["e.1"] });
      await fresh.current();
      assert.equal(chunkGets(), once);
    });

    test("verifyStack opens format-2 revisions and reports one whose chunk is missing", async () => {
      const store = makeStore();
      const backend = open(store, { chunkTargetBytes: 1024 });
      await backend.commit(snapshotOf(Array.from({ length: 200 }, (_, i) => entry(`e.${i}`))));
      const rev = await backend.commitChanges({ upsert: [entry("e.100", 1)] });
      assert.equal((await verifyStack(open(store))).ok, true);
      // Any chunk gone: every revision that needs it is reported, naming the chunk.
      const layout = stackLayout("", "factory", "stack");
      let victim: { key: string } | undefined;
      for await (const o of store.list(layout.chunksPrefix)) victim ??= o;
      assert.ok(victim);
      const id = victim.key.slice(layout.chunksPrefix.length);
      await store.delete(victim.key);
      const report = await verifyStack(open(store));
      assert.equal(report.ok, false);
      assert.ok(report.problems.length >= 1 && report.problems.length <= 2);
      for (const p of report.problems) {
        assert.equal(p.code, "E_CORRUPT");
        assert.ok(p.message.includes(id), p.message);
      }
      assert.ok(report.problems.some((p) => p.rev === rev) || report.problems.length === 1);
    });

    test("commitChanges refuses bad changes before any write", async () => {
      const counting = countingStore(makeStore());
      const backend = open(counting.store, { chunkTargetBytes: 1024 });
      await rejectsNaming(backend.commitChanges({ upsert: [entry("a")] }), "E_INVALID_ARGUMENT", "factory");
      await backend.commitChanges({
        factory: FACTORY,
        upsert: Array.from({ length: 200 }, (_, i) => entry(`e.${i}`)),
      });
      counting.reset();
      await rejectsNaming(backend.commitChanges({ remove: ["e.5", "nope"] }), "E_INVALID_ARGUMENT", "nope");
      await rejectsNaming(
        backend.commitChanges({ upsert: [{ address: "bad", type: "leaf" } as Entry] }),
        "E_INVALID_SNAPSHOT",
      );
      await rejectsNaming(backend.commitChanges({ upsert: [entry("x"), entry("x")] }), "E_INVALID_SNAPSHOT");
      await rejectsNaming(
        backend.commitChanges({ factory: { ...FACTORY, name: "other" } }),
        "E_INVALID_SNAPSHOT",
      );
      assert.deepEqual(counting.puts, []);
      // Remove and upsert of one address replaces it; outputs replace.
      await backend.commitChanges({ remove: ["e.5"], upsert: [entry("e.5", 5)], outputs: { o: 1 } });
      const got = await open(counting.store).current();
      assert.equal(got.entries.length, 200);
      assert.deepEqual(got.outputs, { o: 1 });
      assert.equal(got.entries.find((e) => e.address === "e.5")?.inputs?.n, 5);
    });

    test("commitChanges on a format-1 current, and on a format-1 backend", async () => {
      const store = makeStore();
      const v1 = open(store, { format: 1 });
      await v1.commit(snapshotOf([entry("a"), entry("b")]));
      await v1.commitChanges({ remove: ["a"], upsert: [entry("c")] });
      const v2 = open(store, { chunkTargetBytes: 512 });
      const many = Array.from({ length: 50 }, (_, i) => entry(`m.${i}`));
      await v2.commitChanges({ upsert: many });
      await v2.commitChanges({ remove: ["m.3"] });
      // A format-1 backend extends a format-2 current with a full format-1 commit.
      await open(store, { format: 1 }).commitChanges({ remove: ["b"] });
      const got = await open(store).current();
      assert.deepEqual(
        got.entries.map((e) => e.address).sort(compareCodePoints),
        ["c", ...many.map((e) => e.address).filter((a) => a !== "m.3")].sort(compareCodePoints),
      );
    });

    test("property: commitChanges and commit agree with a plain model, and diff with its difference", async () => {
      // Counts the manifests written with an overlay and the checkpoints (chunk lists written), so
      // the property is shown to cover both (the noop envelope holds the plaintext as is).
      const inner = makeStore();
      const seen = { overlays: 0, lists: 0, inline: 0, counted: 0, uncounted: 0 };
      const store: ObjectStore = {
        ...interceptStore(inner, () => undefined),
        name: inner.name,
        async put(key, body, opts) {
          const text = Buffer.from(body).toString("utf8");
          if (key.includes("/chunks/") && text.includes('{"chunks":[')) seen.lists++;
          // A revision is a snapshot object (pointer head) or a log entry's payload (log head).
          const revision = key.includes("/snapshots/") || key.includes("/log/");
          if (revision && /"(upsert|remove)":/.test(text)) seen.overlays++;
          if (revision && text.includes('"entries":[')) seen.inline++;
          return inner.put(key, body, opts);
        },
      };
      const addresses = fc.constantFrom(
        ...Array.from({ length: 60 }, (_, i) => `r.${String(i).padStart(2, "0")}`),
      );
      const op = fc.record({
        upsert: fc.array(
          fc.tuple(addresses, fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 400 })),
          {
            maxLength: 8,
          },
        ),
        remove: fc.array(addresses, { maxLength: 4 }),
        viaCommit: fc.boolean(),
      });
      let run = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 12 }), async (ops) => {
          const stack = `p${run}`;
          // Both heads, in turn: a stack with a current pointer, and one headed by its log.
          const head = run++ % 2 === 0 ? "log" : "pointer";
          const make = () =>
            createBackend(store, {
              factory: "factory",
              stack,
              encrypter: noopEncrypter(),
              format: 2,
              chunkTargetBytes: 600,
              head,
            });
          const backend = make();
          const model = new Map<string, Entry>();
          const revs: { rev: string; model: Map<string, Entry> }[] = [];
          for (const o of ops) {
            const remove = [...new Set(o.remove)].filter((a) => model.has(a));
            const upsert = new Map<string, Entry>();
            for (const [a, n, pad] of o.upsert) upsert.set(a, entry(a, n, pad));
            for (const a of remove) model.delete(a);
            for (const [a, e] of upsert) model.set(a, e);
            const rev = o.viaCommit
              ? await backend.commit({ ...snapshotOf([...model.values()]), stack })
              : await backend.commitChanges({ factory: FACTORY, remove, upsert: [...upsert.values()] });
            revs.push({ rev, model: new Map(model) });
            // The pointer's entry count, when recorded, is the model's; a full commit always records it.
            const pointer =
              head === "pointer"
                ? (await currentObject(store, stackLayout("", "factory", stack).current).read())?.value
                    .pointer
                : await backendInternals(make()).currentPointer();
            assert.equal(pointer?.rev, rev);
            if (o.viaCommit) assert.equal(pointer?.entries, model.size);
            else if (pointer?.entries !== undefined) assert.equal(pointer.entries, model.size);
            if (pointer?.entries !== undefined) seen.counted++;
            else seen.uncounted++;
          }
          const fresh = make();
          for (const { rev, model: m } of revs) {
            assert.deepEqual(byAddress((await fresh.get(rev)).entries), byAddress([...m.values()]));
            // The summary counts from chunk refs and overlay, without assembling: the same count.
            const summary = await make().revisionSummary(rev);
            assert.equal(summary.entries, m.size, `summary of ${rev}`);
            assert.match(summary.committedBy ?? "", /.@./, "the committer is recorded");
          }
          const [a, b] = [revs[0], revs.at(-1)] as [(typeof revs)[0], (typeof revs)[0]];
          const d = diffSnapshots(await fresh.get(a.rev), await fresh.get(b.rev), { showSensitive: true });
          // The backend's diff (chunk lists compared, only differing chunks read) says the same.
          const byBackend = await make().diff(a.rev, b.rev, { showSensitive: true });
          const { unchanged, ...rest } = byBackend;
          assert.deepEqual(rest, d);
          const same = [...b.model.keys()].filter(
            (k) => a.model.has(k) && JSON.stringify(a.model.get(k)) === JSON.stringify(b.model.get(k)),
          );
          assert.equal(unchanged, same.length);
          const added = [...b.model.keys()].filter((k) => !a.model.has(k)).sort(compareCodePoints);
          const removed = [...a.model.keys()].filter((k) => !b.model.has(k)).sort(compareCodePoints);
          const changed = [...b.model.keys()]
            .filter(
              (k) => a.model.has(k) && JSON.stringify(a.model.get(k)) !== JSON.stringify(b.model.get(k)),
            )
            .sort(compareCodePoints);
          assert.deepEqual(
            d.added.map((e) => e.address),
            added,
          );
          assert.deepEqual(
            d.removed.map((e) => e.address),
            removed,
          );
          assert.deepEqual(
            d.changed.map((e) => e.address),
            changed,
          );
        }),
        { numRuns: storeName === "file" ? 15 : 40 },
      );
      // (Inline states are counted for the record; the round-trip test covers them.)
      for (const what of ["overlays", "lists"] as const)
        assert.ok(seen[what] >= 3, `only ${seen[what]} ${what} written`);
      // A backend that wrote the chunks knows every count without reading anything.
      assert.equal(
        seen.uncounted,
        0,
        `${seen.uncounted} of ${seen.counted + seen.uncounted} pointers without a count`,
      );
    });
  });
}

describe("format 2 on the file store: a checkpoint's objects share one folder fsync", () => {
  for (const head of ["log", "pointer"] as const)
    test(`${head} head: chunks and list leaves are deferred writes; the list's root makes them durable`, async () => {
      const counted = countingStore(fileStore(mkdtempSync(join(tmpdir(), "statekeeper-format2-sync-"))));
      const backend = createBackend(counted.store, {
        factory: "factory",
        stack: "stack",
        encrypter: noopEncrypter(),
        format: 2,
        head,
        chunkTargetBytes: 1024,
      });
      await backend.commit(snapshotOf([entry("first")])); // folders and probe out of the way
      const entries = Array.from({ length: 400 }, (_, i) => entry(`res.${String(i).padStart(3, "0")}`, i));
      for (const change of [
        () => backend.commit(snapshotOf(entries)),
        () =>
          backend.commitChanges({
            upsert: entries.filter((_, i) => i % 7 === 0).map((e) => ({ ...e, outputs: { n: 1 } })),
          }),
      ]) {
        counted.reset();
        const before = dirSyncCount();
        await change();
        const syncs = dirSyncCount() - before;
        const chunkPuts = counted.chunkPuts().length;
        assert.ok(chunkPuts >= 20, `${chunkPuts} chunk objects written`);
        // One for the list's root under chunks/, one for each write of the revision and the head.
        assert.equal(
          syncs,
          counted.puts.length - chunkPuts + 1,
          `folder fsyncs for ${counted.puts.length} puts`,
        );
        const fresh = createBackend(counted.store, {
          factory: "factory",
          stack: "stack",
          encrypter: noopEncrypter(),
        });
        assert.equal((await fresh.current()).entries.length, entries.length);
      }
    });
});

describe("format 2: a chunk list is one object below half a chunk of refs, then leaves and a root", () => {
  test("one object past a leaf's size while under half a chunk; a root over leaves past it", async () => {
    const target = 16 * 1024;
    assert.ok(listOneLevelMaxBytes(target) > LIST_LEAF_BYTES, "the case this test is about exists");
    const counted = countingStore(memoryStore());
    const lists: string[] = [];
    const store: ObjectStore = {
      ...counted.store,
      async put(key, body, opts) {
        const text = new TextDecoder().decode(body);
        // Under the noop encrypter a list's plaintext follows the envelope's header (keys sorted).
        const at = text.search(/\{"(chunks|format-version":2,"lists)":\[/);
        if (key.includes("/chunks/") && at >= 0) lists.push(text.slice(at));
        return counted.store.put(key, body, opts);
      },
    };
    const backend = createBackend(store, {
      factory: "factory",
      stack: "stack",
      encrypter: noopEncrypter(),
      format: 2,
      chunkTargetBytes: target,
    });
    const state = (n: number) =>
      snapshotOf(Array.from({ length: n }, (_, i) => entry(`res.${String(i).padStart(5, "0")}`, i, 900)));
    // About 30 chunks: their refs are past a leaf (4 KiB) but under half a chunk (8 KiB).
    await backend.commit(state(480));
    assert.equal(lists.length, 1, "one list object");
    const one = lists[0] as string;
    assert.ok(one.startsWith('{"chunks":['), "a one-level list");
    assert.ok(
      one.length > LIST_LEAF_BYTES && one.length <= listOneLevelMaxBytes(target),
      `${one.length} bytes`,
    );
    // About 120 chunks: past half a chunk of refs, leaves and a root over them.
    lists.length = 0;
    await backend.commit(state(1900));
    const roots = lists.filter((l) => l.startsWith('{"format-version":2,"lists":['));
    assert.equal(roots.length, 1, "one root");
    assert.ok(lists.length >= 4, `${lists.length - 1} leaves under the root`);
    assert.equal((await backend.current()).entries.length, 1900);
  });
});

describe("format 2: a full commit finds unchanged chunks by their text", () => {
  test("an entry changed in place on the same objects is written; unchanged chunks are kept", async () => {
    const counted = countingStore(memoryStore());
    const options = { factory: "factory", stack: "stack", encrypter: noopEncrypter(), format: 2 as const };
    const backend = createBackend(counted.store, { ...options, chunkTargetBytes: 4096 });
    // An engine that keeps its state objects and commits them again after changing one in place.
    const state = snapshotOf(
      Array.from({ length: 300 }, (_, i) => entry(`res.${String(i).padStart(4, "0")}`, i)),
    );
    await backend.commit(state);
    counted.reset();
    await backend.commit(state);
    assert.deepEqual(counted.chunkPuts(), [], "an unchanged state writes no chunk");
    for (const changed of [57, 58, 299]) {
      ((state.entries[changed] as Entry).inputs as { n: number }).n = -changed;
      await backend.commit(state);
      const fresh = createBackend(counted.store, options);
      assert.deepEqual(
        byAddress((await fresh.current()).entries),
        byAddress(structuredClone(state.entries)),
        `entry ${changed}, changed in place, reads back changed`,
      );
    }
  });
});

describe("format 2: options and what is not supported yet", () => {
  test("format and chunkTargetBytes are checked when the backend is made", () => {
    const base = { factory: "factory", stack: "stack", encrypter: noopEncrypter() };
    for (const bad of [{ format: 3 }, { format: "2" }, { chunkTargetBytes: 0 }, { chunkTargetBytes: 1.5 }])
      assert.throws(
        () => createBackend(memoryStore(), { ...base, ...(bad as Partial<BackendOptions>) }),
        (e: unknown) => isStateKeeperError(e) && e.code === "E_INVALID_CONFIG",
      );
  });

  test("reseal (rekey) re-seals a format-2 manifest; resealChunks its chunks, ids unchanged", async () => {
    const store = memoryStore();
    const key = keyEncrypter({ key: randomBytes(32) });
    const b = createBackend(store, { factory: "factory", stack: "stack", encrypter: key, format: 2 });
    const rev = await b.commit(snapshotOf(Array.from({ length: 400 }, (_, i) => entry(`e.${i}`))));
    const chunkIds = async () => {
      const ids: string[] = [];
      for await (const o of store.list("factory/stack/chunks/")) ids.push(o.key);
      return ids.sort();
    };
    const ids = await chunkIds();
    assert.ok(ids.length > 1);
    const next = keyEncrypter({ key: randomBytes(32) });
    const rotated = createBackend(store, {
      factory: "factory",
      stack: "stack",
      encrypter: keyring(next, key),
      format: 2,
    });
    // What a listing reads of the current revision (on a log, from its commit entry).
    const pointer = () =>
      backendInternals(createBackend(store, { factory: "factory", stack: "stack" })).currentPointer();
    assert.equal((await pointer())?.entries, 400, "the commit recorded its entry count");
    assert.equal(await backendInternals(rotated).reseal(rev), true);
    assert.equal((await pointer())?.entries, 400, "resealing the current revision keeps its count");
    assert.deepEqual(await backendInternals(rotated).resealChunks(), {
      chunks: ids.length,
      resealed: ids.length,
      failed: [],
    });
    assert.deepEqual(await chunkIds(), ids);
    const onlyNext = createBackend(store, { factory: "factory", stack: "stack", encrypter: next, format: 2 });
    assert.equal((await onlyNext.current()).entries.length, 400);
  });
});
