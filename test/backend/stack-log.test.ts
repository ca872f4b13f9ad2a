// The stack log on memory and on the file store, each also where If-Match is ignored; its entry
// format; where cold readers start listing; raced writes; and a model of random operations.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import fc from "fast-check";
import {
  decodeLogEntry,
  encodeLogEntry,
  HINT_EVERY,
  type LogEntry,
  type LogLease,
  SEGMENT,
  StackLog,
} from "../../src/backend/stack-log.js";
import { hasErrorCode } from "../../src/errors.js";
import { dirSyncCount } from "../../src/objectstore/file/fs-ops.js";
import { fileStore, memoryStore, type ObjectStore, StoreError } from "../../src/objectstore/index.js";
import { assertStoreSupported } from "../../src/objectstore/probe.js";
import { ignoringIfMatchStore } from "../../src/testing/index.js";
import { freshLog, stackLogSuite } from "./stack-log-suite.js";

const base = mkdtempSync(join(tmpdir(), "statekeeper-stack-log-"));
after(() => rmSync(base, { recursive: true, force: true }));
let n = 0;

stackLogSuite("memory", () => memoryStore());
stackLogSuite("memory, If-Match ignored", () => ignoringIfMatchStore(memoryStore()));
stackLogSuite("file", () => fileStore(join(base, `f${++n}`)));
stackLogSuite("file, If-Match ignored", () => ignoringIfMatchStore(fileStore(join(base, `f${++n}`))));

const text = (s: string) => new TextEncoder().encode(s);

describe("stack log entries", () => {
  const entry: LogEntry = {
    kind: "commit",
    at: "2026-12-02T00:00:00Z",
    by: "me@here",
    lock: null,
    epoch: 0,
    commit: 9,
    kinds: "lrcrrucuc",
  };

  test("a commit's payload is checked against the digest in its header", () => {
    const bytes = encodeLogEntry(entry, text("sealed revision"));
    const back = decodeLogEntry("k", 9, bytes);
    assert.equal(new TextDecoder().decode(back.payload), "sealed revision");
    assert.equal(back.entry.payload?.size, 15);
    const flipped = bytes.slice();
    flipped[flipped.length - 1] = (flipped[flipped.length - 1] ?? 0) ^ 1;
    assert.ok(
      hasErrorCode(
        catching(() => decodeLogEntry("k", 9, flipped)),
        "E_CORRUPT",
      ),
    );
    assert.ok(
      hasErrorCode(
        catching(() => decodeLogEntry("k", 9, bytes.subarray(0, bytes.length - 1))),
        "E_CORRUPT",
      ),
    );
  });

  test("anything that is not an entry we write is E_CORRUPT, naming the key", () => {
    const bad = [
      "",
      "no newline",
      "[1]\n",
      '{"kind":"nope","epoch":0,"commit":0,"kinds":"lu"}\n',
      '{"kind":"renew","epoch":-1,"commit":0,"kinds":"lr"}\n',
      '{"kind":"renew","epoch":3,"commit":0,"kinds":"lr"}\n',
      '{"kind":"commit","epoch":1,"commit":2,"kinds":"lc"}\n',
      '{"kind":"unlock","epoch":0,"commit":0,"kinds":"lu"}\ntrailing payload',
      '{"kind":"unlock","epoch":0,"commit":0}\n',
      '{"kind":"unlock","epoch":0,"commit":0,"kinds":"u"}\n',
      '{"kind":"unlock","epoch":0,"commit":0,"kinds":"lr"}\n',
      '{"kind":"unlock","epoch":0,"commit":0,"kinds":"xu"}\n',
      '{"kind":"lock","epoch":1,"commit":0,"kinds":"ll","lock":{"user":"x"}}\n',
      '{"kind":"lock","epoch":1,"commit":0,"kinds":"ll","lock":{"id":"a"}}\n',
      '{"kind":"renew","epoch":1,"commit":0,"kinds":"lr"}\n',
      '{"kind":"break","epoch":1,"commit":0,"kinds":"lb"}\n',
      '{"kind":"unlock","epoch":0,"commit":0,"kinds":"lu","lock":{"id":"a"}}\n',
      '{"kind":"unlock","epoch":0,"commit":2,"kinds":"lu"}\n',
      '{"kind":"toString","epoch":0,"commit":0,"kinds":"lu"}\n',
      // An entry count belongs to a commit only, and is a count.
      '{"kind":"unlock","epoch":0,"commit":0,"kinds":"lu","entries":3}\n',
      '{"kind":"commit","epoch":0,"commit":2,"kinds":"lc","entries":-1,"payload":{"sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0}}\n',
      '{"kind":"commit","epoch":0,"commit":2,"kinds":"lc","entries":"3","payload":{"sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0}}\n',
    ];
    assert.ok(
      !hasErrorCode(
        catching(() =>
          decodeLogEntry("f/s/log/2", 2, text('{"kind":"unlock","epoch":0,"commit":0,"kinds":"lu"}\n')),
        ),
        "E_CORRUPT",
      ),
      "the well-formed one",
    );
    const counted = decodeLogEntry(
      "f/s/log/2",
      2,
      text(
        '{"kind":"commit","epoch":0,"commit":2,"kinds":"lc","entries":3,"payload":{"sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0}}\n',
      ),
    );
    assert.equal(counted.entry.entries, 3, "a well-formed commit with its entry count");
    for (const b of bad) {
      const e = catching(() => decodeLogEntry("f/s/log/2", 2, text(b)));
      assert.ok(hasErrorCode(e, "E_CORRUPT"), `${JSON.stringify(b)}: ${String(e)}`);
      assert.match((e as Error).message, /f\/s\/log\/2/);
    }
  });

  test("where If-Match is ignored, the probe refuses the pointer backend's store (the log needs none)", async () => {
    const refused = await assertStoreSupported(ignoringIfMatchStore(memoryStore())).catch((e: unknown) => e);
    assert.ok(hasErrorCode(refused, "E_UNSUPPORTED_STORE"), String(refused));
    assert.match((refused as Error).message, /compare-and-swap/);
  });
});

describe("stack log commits", () => {
  test(`the commits are one listing and one read per ${SEGMENT} entries, whatever else the log holds`, async () => {
    const store = memoryStore();
    const { open } = freshLog(store);
    const log = open();
    const expected: number[] = [];
    // Cycles of lock, a few commits, unlock, with breaks: about 2.5 segments of entries.
    for (let cycle = 0; cycle < 200; cycle++) {
      const lease = await log.acquire({ leaseMs: 60_000 });
      for (let i = 0; i < cycle % 4; i++) expected.push(await lease.commit(() => text(`${cycle}.${i}`)));
      if (cycle % 7 === 0) {
        await log.forceUnlock();
        lease.lose("test: broken");
      } else await lease.release();
    }
    const head = await log.headSeq();
    assert.ok(head > 2 * SEGMENT, `${head} entries`);
    let gets = 0;
    const counting: ObjectStore = {
      ...store,
      get: (key) => {
        gets++;
        return store.get(key);
      },
    };
    const found = await open(counting).commits();
    assert.deepEqual(
      found.map((c) => c.seq),
      expected,
    );
    assert.equal(gets, Math.ceil(head / SEGMENT), "one read per segment");
    assert.ok(found.every((c) => c.size > 0));
    // Removed entries (a prune) are not listed, and the rest still are, from the kinds of the others.
    const removed = expected.filter((_, i) => i % 3 === 0);
    for (const seq of removed) await store.delete(log.key(seq));
    assert.deepEqual(
      (await open().commits()).map((c) => c.seq),
      expected.filter((_, i) => i % 3 !== 0),
    );
  });
});

describe("stack log durability", () => {
  test(`a leased lock's entry is a deferred write, except the last of its segment; every other entry is plain`, async () => {
    const store = memoryStore();
    const deferred = new Map<number, boolean>();
    const watching: ObjectStore = {
      ...store,
      put: (key, body, opts) => {
        const seq = /\/log\/\d+\/(\d+)$/.exec(key)?.[1];
        if (seq !== undefined) deferred.set(Number(seq), opts?.durability === "deferred");
        return store.put(key, body, opts);
      },
    };
    const log = freshLog(watching).open();
    const kinds = new Map<number, string>();
    // Cycles of lock, zero or one commit, unlock, steered so that one lock is the segment's last entry.
    for (let head = 0; head < SEGMENT + 8; head = await log.headSeq()) {
      const left = SEGMENT - 1 - head; // entries before the head reaches SEGMENT - 1
      const commits = left === 3 ? 1 : left === 2 || left === 4 ? 0 : head % 3 === 0 ? 0 : 1;
      const lease = await log.acquire({ leaseMs: 60_000 });
      kinds.set(head + 1, "lock");
      for (let i = 0; i < commits; i++) kinds.set(await lease.commit(() => text("c")), "commit");
      await lease.release();
      kinds.set(await log.headSeq(), "unlock");
    }
    assert.equal(kinds.get(SEGMENT), "lock", "the cycles put a lock at the segment's end");
    for (const [seq, kind] of kinds)
      assert.equal(deferred.get(seq), kind === "lock" && seq !== SEGMENT, `entry ${seq} (${kind})`);
    const leaseless = await log.acquire({});
    assert.equal(deferred.get(await log.headSeq()), false, "a lock without a lease is written durably");
    await leaseless.release();
  });

  test("on the file store, a leased lock → commit → unlock costs two folder fsyncs, not three", async () => {
    const log = freshLog(fileStore(join(base, `f${++n}`))).open();
    await (await log.acquire({})).release(); // the log's folders exist
    const before = dirSyncCount();
    const lease = await log.acquire({ leaseMs: 60_000 });
    assert.equal(dirSyncCount() - before, 0, "the lock");
    await lease.commit(() => text("c"));
    await lease.release();
    assert.equal(dirSyncCount() - before, 2, "its commit and unlock");
    // A lock without a lease outlives the process that took it: durable at once.
    const held = await log.acquire({});
    assert.equal(dirSyncCount() - before, 3, "a lock without a lease");
    await held.release();
  });
});

describe("stack log writes whose answer was wrong or raced", () => {
  test("a holder's own commit, answered as taken (a lost response the store could not settle), counts as done", async () => {
    const store = memoryStore();
    const { open } = freshLog(store);
    let lie = false;
    const lying: ObjectStore = {
      ...store,
      put: async (key, body, opts) => {
        const done = await store.put(key, body, opts);
        if (lie && key.includes("/log/")) {
          lie = false;
          throw new StoreError(
            "PRECONDITION_FAILED",
            `injected: ${key} answered as taken after it was written`,
          );
        }
        return done;
      },
    };
    const lease = await open(lying).acquire({ leaseMs: 60_000 });
    lie = true;
    assert.equal(await lease.commit(() => text("mine")), 2);
    assert.equal(lease.lost, false);
    assert.equal(await lease.commit(() => text("next")), 3, "the next commit follows it");
    lie = true;
    assert.equal(await lease.release(), true, "an unlock answered as taken is ours too");
    assert.deepEqual(
      await Promise.all([1, 2, 3, 4].map(async (seq) => (await open().read(seq))?.entry.kind)),
      ["lock", "commit", "commit", "unlock"],
    );
  });

  test("two handles of one lock without a lease: the second to commit at a position is refused, not lost", async () => {
    const store = memoryStore();
    const { open } = freshLog(store);
    await open().acquire({ id: "shared" });
    const one = await open().resume("shared");
    const two = await open().resume("shared");
    assert.equal(await one.commit(() => text("one")), 2);
    const refused = await two.commit(() => text("two")).catch((e: unknown) => e);
    assert.ok(hasErrorCode(refused, "E_FENCED"), String(refused));
    assert.equal(two.lost, false, "the lock is still this lock's");
    const again = await open().resume("shared");
    assert.equal(await again.commit(() => text("three")), 3);
    await again.release();
  });
});

describe("stack log head", () => {
  test("only exact entry keys count: stray files in the log's folders are not entries", async () => {
    const store = memoryStore();
    const { open } = freshLog(store);
    const log = open();
    const lease = await log.acquire({ leaseMs: 60_000 });
    await lease.commit(() => text("one"));
    const segment = log.key(1).slice(0, log.key(1).lastIndexOf("/") + 1);
    for (const stray of [
      `${log.prefix}notes.txt`,
      `${segment}9`,
      `${segment}00000000000000009.bak`,
      `${log.prefix}0000000000000000/0000000000000300`,
    ])
      await store.put(stray, text("not an entry"));
    assert.equal(await open().headSeq(), 2);
    assert.deepEqual(
      (await open().commits()).map((c) => c.seq),
      [2],
    );
    await lease.release();
  });

  test("a cold reader that finds no hint writes one naming the head; a known non-commit head is not read again", async () => {
    const store = memoryStore();
    const { open } = freshLog(store);
    const writer = open();
    const lease = await writer.acquire({ leaseMs: 60_000 });
    await lease.commit(() => text("one"));
    await lease.release();
    // The writer of entry 1 died before its hint landed.
    await store.delete(writer.hintKey);
    assert.equal(await open().headSeq(), 3);
    assert.equal(new TextDecoder().decode((await store.get(writer.hintKey))?.body), "3\n");
    // The releasing writer knows entry 3 (its own unlock): one listing, no read.
    let gets = 0;
    const counted: ObjectStore = {
      ...store,
      get: (key) => {
        gets++;
        return store.get(key);
      },
    };
    const known = new StackLog(counted, writer.prefix, writer.hintKey, { subject: "stack test" });
    assert.equal((await known.headEntry()).seq, 3);
    const readsCold = gets;
    assert.ok(readsCold >= 1, "a fresh reader reads the head entry");
    assert.equal((await known.headEntry()).entry.kind, "unlock");
    assert.equal(gets, readsCold, "the second time, the known head is not read again");
  });

  test(`a cold reader lists from the hint (rewritten every ${HINT_EVERY} entries), a warm one from what it saw`, async () => {
    const store = memoryStore();
    const { open } = freshLog(store);
    const lease = await open().acquire({ leaseMs: 60_000 });
    for (let i = 0; i < HINT_EVERY + 5; i++) await lease.commit(() => text(String(i)));
    const starts: (string | undefined)[] = [];
    let gets = 0;
    const watched: ObjectStore = {
      ...store,
      get: (key) => {
        gets++;
        return store.get(key);
      },
      list: (prefix, options) => {
        starts.push(options?.startAfter);
        return store.list(prefix, options);
      },
    };
    const reader = open(watched);
    assert.equal(await reader.headSeq(), HINT_EVERY + 6);
    assert.deepEqual(starts, [reader.key(HINT_EVERY)], "cold: from the hint");
    assert.equal(gets, 1, "one GET: the hint");
    await lease.commit(() => text("one more"));
    assert.equal(await reader.headSeq(), HINT_EVERY + 7);
    assert.deepEqual(starts.at(-1), reader.key(HINT_EVERY + 6), "warm: after the newest entry it saw");
    assert.equal(gets, 1, "no hint read again");
    await lease.release();
  });
});

function catching(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

describe("stack log against a model", () => {
  test("random locks, commits, releases, breaks and commits without the lock by three writers agree with a plain model", async () => {
    const op = fc.record({
      actor: fc.integer({ min: 0, max: 2 }),
      kind: fc.constantFrom("acquire", "commit", "release", "break", "commit-unlocked", "commit-stale"),
    });
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 30 }), async (ops) => {
        const store = memoryStore();
        const { open } = freshLog(store);
        const logs = [open(), open(), open()];
        const leases: (LogLease | undefined)[] = [undefined, undefined, undefined];
        const lastRead: (Awaited<ReturnType<StackLog["head"]>> | undefined)[] = [
          undefined,
          undefined,
          undefined,
        ];
        // The model: who holds the lock (an actor), and every acknowledged commit in order.
        let holder: number | undefined;
        const acked: number[] = [];
        run++;
        for (const [step, { actor, kind }] of ops.entries()) {
          const log = logs[actor] as StackLog;
          const where = `run ${run} step ${step}: actor ${actor} ${kind}`;
          const lease = leases[actor];
          if (kind === "acquire") {
            if (lease !== undefined) continue;
            const got = await log.acquire({ leaseMs: 60_000, wait: false }).catch((e: unknown) => e);
            if (holder === undefined) {
              assert.ok(!(got instanceof Error), `${where}: ${String(got)}`);
              leases[actor] = got as LogLease;
              holder = actor;
            } else assert.ok(hasErrorCode(got, "E_LOCKED"), `${where}: ${String(got)}`);
          } else if (kind === "commit") {
            if (lease === undefined) continue;
            const got = await lease.commit((seq) => text(`${actor}@${seq}`)).catch((e: unknown) => e);
            if (holder === actor) {
              assert.equal(typeof got, "number", `${where}: ${String(got)}`);
              acked.push(got as number);
            } else {
              assert.ok(hasErrorCode(got, "E_FENCED"), `${where}: ${String(got)}`);
              assert.equal(lease.lost, true, where);
              leases[actor] = undefined;
            }
          } else if (kind === "release") {
            if (lease === undefined) continue;
            assert.equal(await lease.release(), holder === actor, where);
            if (holder === actor) holder = undefined;
            leases[actor] = undefined;
          } else if (kind === "break") {
            const broken = await log.forceUnlock();
            assert.equal(broken?.id, holder === undefined ? undefined : leases[holder]?.id, where);
            holder = undefined;
          } else {
            const after =
              kind === "commit-stale" && lastRead[actor] !== undefined ? lastRead[actor] : await log.head();
            const moved = (await log.headSeq()) !== after.seq;
            const got = await log
              .commitAfter(after, (seq) => text(`unlocked ${actor}@${seq}`))
              .catch((e: unknown) => e);
            if (after.entry.lock !== null)
              assert.ok(hasErrorCode(got, "E_LOCKED"), `${where}: ${String(got)}`);
            else if (moved) assert.ok(hasErrorCode(got, "E_FENCED"), `${where}: ${String(got)}`);
            else {
              const { seq } = got as { seq: number };
              assert.equal(seq, after.seq + 1, where);
              acked.push(seq);
            }
          }
          lastRead[actor] = await log.head();
          const fresh = open();
          assert.equal(
            (await fresh.lockRecord())?.id,
            holder === undefined ? undefined : leases[holder]?.id,
            where,
          );
          assert.deepEqual(
            (await fresh.commits()).map((c) => c.seq),
            acked,
            `${where}: every acknowledged commit, and only those`,
          );
        }
      }),
      { numRuns: 150 },
    );
  });
});
