import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { hasErrorCode, isStateKeeperError } from "../errors.js";
import { mapBounded } from "../internal/bounded.js";
import { compareKeys } from "../objectstore/kit.js";
import type { ObjectStore } from "../objectstore/types.js";
import { isStoreError } from "../objectstore/types.js";
import {
  type ConformanceOptions,
  type ConformanceTest,
  type MakeStore,
  suiteTitle,
  withGroups,
} from "./conformance-api.js";
import { collect } from "./deployments-fixtures.js";

export interface ObjectStoreConformanceOptions extends ConformanceOptions {
  /**
   * Whether writing identical bytes again yields a new etag, so a stale `ifMatch` fails (default
   * true). Content-hash stores (S3, whose etag is the body's MD5) must say `false` explicitly; the suite then
   * checks that the etag is indeed stable, instead of silently skipping the check.
   */
  etagChangesOnIdenticalRewrite?: boolean;
  /** Whether `probe()` must report conditional deletes as honoured (default true). */
  conditionalDelete?: boolean;
  /** Parent of every test's random prefix (default "conformance/"). */
  keyPrefix?: string;
  /** Objects in the listing test; must exceed S3's 1000-key page (default 1100). */
  listSize?: number;
  /** Parallel requests when filling the listing test (default 32). */
  writeConcurrency?: number;
}

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined): string | undefined =>
  b === undefined ? undefined : new TextDecoder().decode(b);

const isPreconditionFailed = (e: unknown): boolean => isStoreError(e, "PRECONDITION_FAILED");

/**
 * Registers one test per ObjectStore behaviour the rest of statekeeper relies on. Run it against
 * every driver, including third-party ones:
 *
 *   objectStoreConformance({ describe, test }, () => fileStore(dir), { name: "file" });
 */
export function objectStoreConformance(
  test: ConformanceTest,
  makeStore: MakeStore,
  options: ObjectStoreConformanceOptions = {},
): void {
  const t = withGroups(test);
  const listSize = options.listSize ?? 1100;
  const width = options.writeConcurrency ?? 32;
  const parent = options.keyPrefix ?? "conformance/";
  /** A test body with its own store and fresh prefix. */
  const it = (name: string, body: (s: ObjectStore, p: string) => Promise<void>) =>
    t.test(name, async () => body(await makeStore(), `${parent}${randomBytes(8).toString("hex")}/`));

  t.describe(suiteTitle("ObjectStore conformance", options), () => {
    it("get and head of a missing key return undefined", async (s, p) => {
      assert.equal(await s.get(`${p}missing`), undefined);
      assert.equal(await s.head(`${p}missing`), undefined);
    });

    it("put then get round-trips empty, binary and 1 MiB bodies with matching etags", async (s, p) => {
      const bodies = {
        empty: new Uint8Array(0),
        binary: Uint8Array.from({ length: 256 }, (_, i) => i),
        large: new Uint8Array(randomBytes(1024 * 1024)),
      };
      for (const [name, body] of Object.entries(bodies)) {
        const { etag } = await s.put(`${p}${name}`, body);
        const got = await s.get(`${p}${name}`);
        assert.deepEqual(got?.body, body, name);
        assert.equal(got?.etag, etag, name);
        const info = await s.head(`${p}${name}`);
        assert.equal(info?.size, body.byteLength, name);
        assert.equal(info?.etag, etag, name);
        assert.equal(info?.key, `${p}${name}`);
      }
    });

    it("an unconditional put overwrites and changes the etag", async (s, p) => {
      const first = await s.put(`${p}k`, bytes("one"));
      const second = await s.put(`${p}k`, bytes("two"));
      assert.notEqual(second.etag, first.etag);
      assert.equal(text((await s.get(`${p}k`))?.body), "two");
    });

    it("create-only succeeds on a missing key", async (s, p) => {
      const { etag } = await s.put(`${p}k`, bytes("created"), { ifNoneMatch: "*" });
      const got = await s.get(`${p}k`);
      assert.equal(text(got?.body), "created");
      assert.equal(got?.etag, etag);
    });

    it("create-only on an existing key fails with PRECONDITION_FAILED and leaves the body", async (s, p) => {
      await s.put(`${p}k`, bytes("original"));
      await assert.rejects(s.put(`${p}k`, bytes("intruder"), { ifNoneMatch: "*" }), isPreconditionFailed);
      assert.equal(text((await s.get(`${p}k`))?.body), "original");
    });

    it("a deferred write is a write: seen at once, listed, create-only and compare-and-swap as any", async (s, p) => {
      const deferred = { durability: "deferred" } as const;
      const { etag } = await s.put(`${p}chunk`, bytes("c1"), { ...deferred, ifNoneMatch: "*" });
      const got = await s.get(`${p}chunk`);
      assert.equal(text(got?.body), "c1");
      assert.equal(got?.etag, etag);
      await assert.rejects(
        s.put(`${p}chunk`, bytes("c2"), { ...deferred, ifNoneMatch: "*" }),
        isPreconditionFailed,
      );
      await assert.rejects(
        s.put(`${p}chunk`, bytes("c2"), { ...deferred, ifMatch: `${etag}x` }),
        isPreconditionFailed,
      );
      await s.put(`${p}chunk`, bytes("c3"), { ...deferred, ifMatch: etag });
      await s.put(`${p}list`, bytes("l"), { ifNoneMatch: "*" });
      assert.equal(text((await s.get(`${p}chunk`))?.body), "c3");
      const listed: string[] = [];
      for await (const o of s.list(p)) listed.push(o.key);
      assert.deepEqual(listed, [`${p}chunk`, `${p}list`]);
    });

    it("compare-and-swap with the current etag replaces the object and returns a new etag", async (s, p) => {
      const first = await s.put(`${p}k`, bytes("v1"));
      const second = await s.put(`${p}k`, bytes("v2"), { ifMatch: first.etag });
      assert.notEqual(second.etag, first.etag);
      const got = await s.get(`${p}k`);
      assert.equal(text(got?.body), "v2");
      assert.equal(got?.etag, second.etag);
    });

    it("compare-and-swap with a stale etag fails and leaves the body", async (s, p) => {
      const first = await s.put(`${p}k`, bytes("v1"));
      await s.put(`${p}k`, bytes("v2"));
      await assert.rejects(s.put(`${p}k`, bytes("v3"), { ifMatch: first.etag }), isPreconditionFailed);
      assert.equal(text((await s.get(`${p}k`))?.body), "v2");
    });

    it("compare-and-swap on a missing key fails with PRECONDITION_FAILED", async (s, p) => {
      const { etag } = await s.put(`${p}other`, bytes("x"));
      await assert.rejects(s.put(`${p}k`, bytes("v"), { ifMatch: etag }), isPreconditionFailed);
      assert.equal(await s.get(`${p}k`), undefined);
    });

    it("ifMatch and ifNoneMatch together are refused and nothing is written", async (s, p) => {
      const { etag } = await s.put(`${p}k`, bytes("v1"));
      const both = { ifMatch: etag, ifNoneMatch: "*" as const };
      await assert.rejects(s.put(`${p}k`, bytes("v2"), both), (e) => isStateKeeperError(e));
      await assert.rejects(s.put(`${p}new`, bytes("v2"), both), (e) => isStateKeeperError(e));
      assert.equal(text((await s.get(`${p}k`))?.body), "v1");
      assert.equal(await s.get(`${p}new`), undefined);
    });

    if (options.etagChangesOnIdenticalRewrite ?? true) {
      it("rewriting identical bytes yields a new etag and the stale one fails", async (s, p) => {
        const first = await s.put(`${p}k`, bytes("same"));
        const second = await s.put(`${p}k`, bytes("same"));
        assert.notEqual(second.etag, first.etag);
        await assert.rejects(s.put(`${p}k`, bytes("next"), { ifMatch: first.etag }), isPreconditionFailed);
      });
    } else {
      it("content-hash etags (declared): identical bytes keep the etag, any other write changes it", async (s, p) => {
        const first = await s.put(`${p}k`, bytes("same"));
        const again = await s.put(`${p}k`, bytes("same"));
        assert.equal(again.etag, first.etag);
        await s.put(`${p}k`, bytes("different"));
        await assert.rejects(s.put(`${p}k`, bytes("next"), { ifMatch: first.etag }), isPreconditionFailed);
      });
    }

    it("deleting a missing key is not an error; delete removes; delete with the right etag removes", async (s, p) => {
      await s.delete(`${p}missing`);
      await s.put(`${p}a`, bytes("a"));
      await s.delete(`${p}a`);
      assert.equal(await s.get(`${p}a`), undefined);
      const { etag } = await s.put(`${p}b`, bytes("b"));
      await s.delete(`${p}b`, { ifMatch: etag });
      assert.equal(await s.head(`${p}b`), undefined);
    });

    it("delete with ifMatch on a missing key fails its precondition, as put does", async (s, p) => {
      await assert.rejects(
        s.delete(`${p}never-written`, { ifMatch: '"0123456789abcdef"' }),
        isPreconditionFailed,
      );
      const { etag } = await s.put(`${p}gone`, bytes("x"));
      await s.delete(`${p}gone`);
      await assert.rejects(s.delete(`${p}gone`, { ifMatch: etag }), isPreconditionFailed);
    });

    it("delete with a wrong etag fails and keeps the object (where the probe says it is honoured)", async (s, p) => {
      const expected = options.conditionalDelete ?? true;
      assert.equal((await s.probe()).conditionalDelete, expected, "probe().conditionalDelete");
      const first = await s.put(`${p}k`, bytes("v1"));
      await s.put(`${p}k`, bytes("v2"));
      if (!expected) return;
      await assert.rejects(s.delete(`${p}k`, { ifMatch: first.etag }), isPreconditionFailed);
      assert.equal(text((await s.get(`${p}k`))?.body), "v2");
    });

    it("list is prefix-filtered, sorted in byte order, and agrees with head", async (s, p) => {
      const names = ["b", "a/2", "ab", "a-b", "a/b/c", "a/1", "a.x", "Z", "é", "a/é", "a/Z", "a/b-", "a/b/d"];
      await mapBounded(names, width, (n) => s.put(`${p}${n}`, bytes(`body of ${n}`)));
      const all = await collect(s.list(p));
      const expectedAll = names.map((n) => `${p}${n}`).sort(compareKeys);
      assert.deepEqual(
        all.map((o) => o.key),
        expectedAll,
      );
      const underA = await collect(s.list(`${p}a/`));
      assert.deepEqual(
        underA.map((o) => o.key),
        expectedAll.filter((k) => k.startsWith(`${p}a/`)),
      );
      assert.ok(!underA.some((o) => o.key === `${p}ab`), "'ab' is not under 'a/'");
      const startingA = await collect(s.list(`${p}a`));
      assert.deepEqual(
        startingA.map((o) => o.key),
        expectedAll.filter((k) => k.startsWith(`${p}a`)),
      );
      for (const o of all) {
        const info = await s.head(o.key);
        assert.equal(o.size, info?.size, o.key);
        assert.equal(o.etag, info?.etag, o.key);
      }
      assert.deepEqual(await collect(s.list(`${p}nothing-here/`)), []);
    });

    it("list skips the folders the caller refuses, asked with each folder below the prefix", async (s, p) => {
      const names = [
        "top",
        "a/keep",
        "a/chunks/c1",
        "a/chunks/deep/c2",
        "b/chunks",
        "b/x/chunks/c3",
        "chunksy/k",
      ];
      await mapBounded(names, width, (n) => s.put(`${p}${n}`, bytes(`body of ${n}`)));
      const asked = new Set<string>();
      const skip = (folder: string) => {
        asked.add(folder);
        return folder.endsWith("/chunks/");
      };
      const keys = async (prefix: string) => (await collect(s.list(prefix, { skip }))).map((o) => o.key);
      // A file named like a skipped folder stays; so does a folder whose name only starts like one.
      assert.deepEqual(
        await keys(p),
        ["a/keep", "b/chunks", "chunksy/k", "top"].map((n) => `${p}${n}`),
      );
      assert.ok(asked.has(`${p}a/chunks/`) && asked.has(`${p}b/x/chunks/`), [...asked].join(", "));
      assert.ok(
        ![...asked].some((f) => !f.startsWith(p) || f === p),
        "only folders below the prefix are asked about",
      );
      assert.deepEqual(await keys(`${p}a/`), [`${p}a/keep`]);
      // A prefix that ends inside a folder's name: that folder is below it, and may be skipped.
      assert.deepEqual(await keys(`${p}a/ch`), []);
      assert.deepEqual(
        (await collect(s.list(`${p}a/`))).map((o) => o.key),
        ["a/chunks/c1", "a/chunks/deep/c2", "a/keep"].map((n) => `${p}${n}`),
        "without skip, everything",
      );
    });

    it("list starts after the given key, in byte order, whether or not it exists", async (s, p) => {
      const names = ["a", "b/1", "b/2", "b/x/3", "b0", "c/d/4", "log/0007", "log/0012", "log/0100"];
      await mapBounded(names, width, (n) => s.put(`${p}${n}`, bytes(`body of ${n}`)));
      const keys = async (prefix: string, startAfter: string) =>
        (await collect(s.list(prefix, { startAfter }))).map((o) => o.key.slice(p.length));
      const after = (name: string) => names.slice(names.indexOf(name) + 1);
      assert.deepEqual(await keys(p, `${p}b/1`), after("b/1"));
      // Not a key: the listing starts at the next one; a folder's name alone comes before its keys.
      assert.deepEqual(await keys(p, `${p}b/15`), after("b/1"));
      assert.deepEqual(await keys(p, `${p}b`), after("a"));
      // Past a whole folder ('/' < '0'), and into a nested one.
      assert.deepEqual(await keys(p, `${p}b/x/3`), after("b/x/3"));
      assert.deepEqual(await keys(`${p}c/`, `${p}c/d/`), ["c/d/4"]);
      // The newest entries of a sequence: one short listing.
      assert.deepEqual(await keys(`${p}log/`, `${p}log/0012`), ["log/0100"]);
      assert.deepEqual(await keys(`${p}log/`, `${p}log/0100`), []);
      // Before the prefix: everything under it; past it: nothing.
      assert.deepEqual(await keys(`${p}log/`, p), after("c/d/4"));
      assert.deepEqual(await keys(`${p}b/`, `${p}c`), []);
      // With skip: both apply.
      const both = await collect(s.list(p, { startAfter: `${p}b/1`, skip: (f) => f.endsWith("/x/") }));
      assert.deepEqual(
        both.map((o) => o.key.slice(p.length)),
        after("b/1").filter((n) => n !== "b/x/3"),
      );
      const b2 = await s.head(`${p}b/2`);
      assert.equal(both[0]?.etag, b2?.etag, "listed objects carry their etags");
    });

    it(`list is complete over ${listSize} keys (more than one S3 page)`, async (s, p) => {
      const keys = Array.from({ length: listSize }, (_, i) => `${p}many/${String(i).padStart(5, "0")}`);
      await mapBounded(keys, width, (k) => s.put(k, bytes(k.slice(-5))));
      const listed = await collect(s.list(`${p}many/`));
      assert.equal(listed.length, listSize);
      assert.deepEqual(
        listed.map((o) => o.key),
        keys,
      );
      assert.ok(listed.every((o) => o.size === 5));
      await mapBounded(keys, width, (k) => s.delete(k));
    });

    it("20 concurrent create-only puts of one key: exactly one wins", async (s, p) => {
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) => s.put(`${p}k`, bytes(`writer ${i}`), { ifNoneMatch: "*" })),
      );
      const winners = results.flatMap((r, i) => (r.status === "fulfilled" ? [i] : []));
      assert.equal(winners.length, 1, "exactly one winner");
      for (const r of results)
        if (r.status === "rejected")
          assert.ok(isPreconditionFailed(r.reason) || isStoreError(r.reason, "CONFLICT"));
      assert.equal(text((await s.get(`${p}k`))?.body), `writer ${winners[0]}`);
    });

    it("20 concurrent compare-and-swaps from one etag: exactly one wins", async (s, p) => {
      const { etag } = await s.put(`${p}k`, bytes("start"));
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) => s.put(`${p}k`, bytes(`writer ${i}`), { ifMatch: etag })),
      );
      const winners = results.flatMap((r, i) => (r.status === "fulfilled" ? [i] : []));
      assert.equal(winners.length, 1, "exactly one winner");
      for (const r of results)
        if (r.status === "rejected")
          assert.ok(isPreconditionFailed(r.reason) || isStoreError(r.reason, "CONFLICT"));
      assert.equal(text((await s.get(`${p}k`))?.body), `writer ${winners[0]}`);
    });

    it("invalid keys are refused with E_INVALID_NAME before anything is written", async (s, p) => {
      const invalid = [
        "",
        "/abs",
        "..",
        `${p}a/../b`,
        `${p}a//b`,
        `${p}a\\b`,
        `${p}nul\0x`,
        `${p}ctl\u0001x`,
        `${p}del\u007fx`,
        `${p}c1\u0085x`,
        `${p}trailing/`,
        `${p}${"x".repeat(2000)}`,
      ];
      // One error for one mistake on every driver: E_INVALID_NAME, recognised as a StoreError.
      const isInvalidName = (e: unknown) =>
        hasErrorCode(e, "E_INVALID_NAME") && isStoreError(e, "INVALID_KEY");
      for (const key of invalid) {
        await assert.rejects(s.put(key, bytes("x")), isInvalidName, JSON.stringify(key.slice(0, 40)));
        await assert.rejects(s.put(key, bytes("x"), { ifNoneMatch: "*" }), isInvalidName);
        await assert.rejects(s.get(key), isInvalidName);
        await assert.rejects(s.head(key), isInvalidName);
        await assert.rejects(s.delete(key), isInvalidName);
      }
      await assert.rejects(collect(s.list("../")), isInvalidName);
      await assert.rejects(collect(s.list("/abs")), isInvalidName);
      assert.deepEqual(await collect(s.list(p)), []);
    });

    it("wrong put and delete options are E_INVALID_ARGUMENT before anything is written, never E_UNSUPPORTED_STORE", async (s, p) => {
      const isInvalidArgument = (e: unknown) =>
        hasErrorCode(e, "E_INVALID_ARGUMENT") && isStoreError(e, "INVALID_ARGUMENT");
      const key = `${p}k`;
      for (const opts of [{ ifMatch: "" }, { ifNoneMatch: "etag" }, { ifMatch: "a", ifNoneMatch: "*" }])
        await assert.rejects(s.put(key, bytes("x"), opts as never), isInvalidArgument, JSON.stringify(opts));
      await assert.rejects(s.put(key, "not bytes" as never), isInvalidArgument);
      await assert.rejects(s.delete(key, { ifMatch: "" }), isInvalidArgument);
      assert.equal(await s.head(key), undefined, "nothing was written");
    });

    it("probe reports create-only and compare-and-swap as honoured", async (s) => {
      const caps = await s.probe();
      assert.equal(caps.createOnly, true, caps.notes.join("; "));
      assert.equal(caps.compareAndSwap, true, caps.notes.join("; "));
      assert.ok(caps.notes.length > 0);
    });

    it("bodies are copied in and out: mutating them does not change the store", async (s, p) => {
      const input = bytes("original");
      await s.put(`${p}k`, input);
      input.fill(0);
      const got = await s.get(`${p}k`);
      assert.equal(text(got?.body), "original");
      got?.body.fill(0);
      assert.equal(text((await s.get(`${p}k`))?.body), "original");
    });
  });
}
