import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { keyEncrypter } from "../crypto/key.js";
import { hasErrorCode } from "../errors.js";
import { sleep } from "../internal/backoff.js";
import type { ObjectStore } from "../objectstore/types.js";
import { recordKey } from "../records/keys.js";
import { createRecordStore } from "../records/store.js";
import type { IaCStateInput } from "../records/types.js";
import {
  type ConformanceOptions,
  type ConformanceTest,
  type MakeStore,
  suiteTitle,
  withGroups,
} from "./conformance-api.js";
import { recordLockConformance } from "./records-conformance-locks.js";
import { freshPrefix, records, state } from "./records-fixtures.js";
import { recordingStore } from "./store-decorators.js";

export interface RecordStoreConformanceOptions extends ConformanceOptions {
  /** Records written to prove listing follows pagination (default 1100; S3 pages hold 1000 keys). */
  listSize?: number;
}

async function rawKeys(store: ObjectStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const info of store.list(prefix)) keys.push(info.key);
  return keys;
}

const ids = (list: { records: { state: { resource_id: string } }[] }) =>
  list.records.map((r) => r.state.resource_id).sort();

/**
 * Every behaviour of per-resource records (DigitalOcean's Spaces store, plus compare-and-swap,
 * lossless keys, filter validation, unreadable records, invalid input, encryption and locks),
 * run on record stores opened on `makeStore()`. Each test works under its own random prefix.
 */
export function recordStoreConformance(
  test: ConformanceTest,
  makeStore: MakeStore,
  options: RecordStoreConformanceOptions = {},
): void {
  const t = withGroups(test);
  const listSize = options.listSize ?? 1100;

  t.describe(suiteTitle("RecordStore conformance", options), () => {
    t.test("a missing record reads as undefined", async () => {
      const { rs } = await records(makeStore);
      assert.equal(await rs.get("nope"), undefined);
    });

    t.test("save round-trips, sets timestamps, and a second save overwrites keeping created_at", async () => {
      const { rs } = await records(makeStore);
      const etag1 = await rs.save(
        state("web", {
          outputs: { ip: "10.0.0.1", nested: { n: 1 } },
          dependencies: ["vpc"],
          config_hash: "h1",
        }),
      );
      const first = await rs.get("web");
      assert.ok(first);
      assert.equal(first.etag, etag1);
      assert.deepEqual(first.state.outputs, { ip: "10.0.0.1", nested: { n: 1 } });
      assert.deepEqual(first.state.dependencies, ["vpc"]);
      assert.equal(first.state.status, "active");
      assert.ok(Date.parse(first.state.created_at) > 0);
      assert.equal(first.state.created_at, first.state.updated_at);

      await sleep(5);
      const etag2 = await rs.save(state("web", { status: "destroying", created_at: "2001-01-01T00:00:00Z" }));
      assert.notEqual(etag2, etag1);
      const second = await rs.get("web");
      assert.ok(second);
      assert.equal(second.state.status, "destroying");
      assert.deepEqual(second.state.outputs, {});
      assert.equal(second.state.dependencies, undefined);
      assert.equal(
        second.state.created_at,
        first.state.created_at,
        "created_at is kept from the stored record",
      );
      assert.ok(second.state.updated_at > first.state.updated_at);
    });

    t.test("statuses are free-form: any other status saves, reads, and filters like the six", async () => {
      const { rs } = await records(makeStore);
      await rs.save(state("p", { status: "pending" }));
      await rs.save(state("d", { status: "drifted" }));
      await rs.save(state("a", { status: "active" }));
      assert.equal((await rs.get("p"))?.state.status, "pending");
      const drifted = await rs.list({ status: "drifted" });
      assert.deepEqual(ids(drifted), ["d"]);
      assert.deepEqual(drifted.unreadable, []);
      assert.deepEqual(ids(await rs.list({ status: "active" })), ["a"]);
    });

    t.test("a caller's updated_at is kept; without one, save sets it", async () => {
      const { rs } = await records(makeStore);
      await rs.save(state("t", { updated_at: "2020-02-02T02:02:02Z", created_at: "2020-01-01T00:00:00Z" }));
      const first = await rs.get("t");
      assert.equal(first?.state.updated_at, "2020-02-02T02:02:02Z");
      assert.equal(first?.state.created_at, "2020-01-01T00:00:00Z");
      await rs.save(state("t", { status: "destroying" }));
      const second = await rs.get("t");
      assert.ok((second?.state.updated_at ?? "") > "2020-02-02T02:02:02Z", "set to now when absent");
      assert.equal(second?.state.created_at, "2020-01-01T00:00:00Z");
    });

    t.test("ids with / \\ % . .. spaces and unicode stay distinct and read back", async () => {
      const { store, rs } = await records(makeStore);
      const tricky = [
        "a/b",
        "a_b",
        "a%2Fb",
        "a\\b",
        "a%5Cb",
        ".",
        "..",
        "../x",
        "a b",
        "ünï/çødé",
        "a.b",
        "%",
        "A",
        "a",
      ];
      for (const [i, id] of tricky.entries()) await rs.save(state(id, { outputs: { i } }));
      for (const [i, id] of tricky.entries()) assert.deepEqual((await rs.get(id))?.state.outputs, { i }, id);
      const list = await rs.list();
      assert.deepEqual(ids(list), [...tricky].sort());
      assert.deepEqual(list.unreadable, []);
      const keys = await rawKeys(store, rs.prefix);
      assert.equal(new Set(keys).size, tricky.length, "one distinct object per id");
      for (const key of keys) assert.ok(!key.slice(rs.prefix.length).includes("/"), key);
    });

    t.test("listing skips lock objects", async () => {
      const { rs } = await records(makeStore);
      await rs.save(state("r1"));
      await rs.save(state("r2"));
      await rs.lock("r1");
      await rs.lock("only-locked");
      assert.deepEqual(ids(await rs.list()), ["r1", "r2"]);
    });

    t.test(`listing follows pagination (${listSize} records)`, async () => {
      const { store, rs } = await records(makeStore);
      const all = Array.from({ length: listSize }, (_, i) => `res-${String(i).padStart(5, "0")}`);
      for (let i = 0; i < all.length; i += 50)
        await Promise.all(all.slice(i, i + 50).map((id) => rs.save(state(id))));
      await rs.lock("res-00000");
      const list = await rs.list();
      assert.equal(list.records.length, listSize);
      assert.deepEqual(ids(list), all);
      assert.equal((await rawKeys(store, rs.prefix)).length, listSize + 1);
    });

    t.test("filter is an AND of exact matches; empty filter lists all", async () => {
      const { rs } = await records(makeStore);
      await rs.save(state("a", { provider: "aws", resource_type: "ecs", status: "active" }));
      await rs.save(state("b", { provider: "aws", resource_type: "ecs", status: "error" }));
      await rs.save(state("c", { provider: "gcp", resource_type: "ecs", status: "active" }));
      await rs.save(state("d", { provider: "aws", resource_type: "kubernetes", status: "active" }));
      assert.deepEqual(ids(await rs.list({ provider: "aws", status: "active" })), ["a", "d"]);
      assert.deepEqual(ids(await rs.list({ provider: "aws", status: "active", resource_type: "ecs" })), [
        "a",
      ]);
      assert.deepEqual(ids(await rs.list({ resource_type: "ecs" })), ["a", "b", "c"]);
      assert.deepEqual(ids(await rs.list({ provider: "AWS" })), [], "exact match, case included");
      assert.deepEqual(ids(await rs.list({})), ["a", "b", "c", "d"]);
      assert.deepEqual(ids(await rs.list()), ["a", "b", "c", "d"]);
    });

    t.test("an unknown filter key or a status no record can have is refused, not ignored", async () => {
      const { rs } = await records(makeStore);
      await rs.save(state("a"));
      const bad = [
        { type: "ecs" },
        { resource_type: "ecs", region: "nyc3" },
        { status: "" },
        { status: "x".repeat(129) },
        { provider: 1 },
      ];
      for (const filter of bad)
        await assert.rejects(rs.list(filter as never), (e) => hasErrorCode(e, "E_INVALID_ARGUMENT"));
    });

    t.test("an unreadable record is reported by list and get, never dropped", async () => {
      const { store, rs } = await records(makeStore);
      await rs.save(state("good"));
      await rs.save(state("bad"));
      await store.put(recordKey(rs.prefix, "bad"), new TextEncoder().encode("{not json"));
      await store.put(
        recordKey(rs.prefix, "moved"),
        (await store.get(recordKey(rs.prefix, "good")))?.body ?? new Uint8Array(),
      );
      await store.put(`${rs.prefix}hand.made.json`, new TextEncoder().encode("{}"));
      const list = await rs.list();
      assert.deepEqual(ids(list), ["good"]);
      assert.deepEqual(
        list.unreadable.map((u) => [u.id, u.key, u.error.code]),
        [
          ["bad", recordKey(rs.prefix, "bad"), "E_CORRUPT"],
          [undefined, `${rs.prefix}hand.made.json`, "E_CORRUPT"],
          ["moved", recordKey(rs.prefix, "moved"), "E_CORRUPT"],
        ],
      );
      assert.equal(
        (await rs.list({ provider: "nobody" })).unreadable.length,
        3,
        "reported whatever the filter",
      );
      await assert.rejects(rs.get("bad"), (e) => hasErrorCode(e, "E_CORRUPT"));
      await rs.save(state("bad"));
      assert.equal((await rs.get("bad"))?.state.status, "active", "a plain save repairs a corrupt record");
    });

    t.test(
      "compare-and-swap: a stale etag, an existing record for create-only, a missing record all conflict",
      async () => {
        const { rs } = await records(makeStore);
        const etag1 = await rs.save(state("x", { outputs: { v: 1 } }), { ifNoneMatch: "*" });
        await assert.rejects(rs.save(state("x"), { ifNoneMatch: "*" }), (e) => hasErrorCode(e, "E_CONFLICT"));
        const etag2 = await rs.save(state("x", { outputs: { v: 2 } }), { ifMatch: etag1 });
        await assert.rejects(rs.save(state("x", { outputs: { v: 3 } }), { ifMatch: etag1 }), (e) =>
          hasErrorCode(e, "E_CONFLICT"),
        );
        assert.deepEqual((await rs.get("x"))?.state.outputs, { v: 2 });
        assert.equal((await rs.get("x"))?.etag, etag2);
        await assert.rejects(rs.save(state("gone"), { ifMatch: etag2 }), (e) =>
          hasErrorCode(e, "E_CONFLICT"),
        );
        assert.equal(await rs.get("gone"), undefined);
      },
    );

    t.test("two writers from one etag: exactly one wins", async () => {
      const { rs } = await records(makeStore);
      const etag = await rs.save(state("race", { outputs: { n: 0 } }));
      const results = await Promise.allSettled(
        [1, 2, 3, 4].map((n) => rs.save(state("race", { outputs: { n } }), { ifMatch: etag })),
      );
      const won = results.filter((r) => r.status === "fulfilled");
      assert.equal(won.length, 1);
      for (const r of results)
        if (r.status === "rejected") assert.ok(hasErrorCode(r.reason, "E_CONFLICT"), String(r.reason));
    });

    t.test("delete: missing is not found, a stale etag conflicts, the right one deletes", async () => {
      const { rs } = await records(makeStore);
      await assert.rejects(rs.delete("nope"), (e) => hasErrorCode(e, "E_NOT_FOUND"));
      const etag1 = await rs.save(state("d"));
      const etag2 = await rs.save(state("d", { status: "destroyed" }));
      await assert.rejects(rs.delete("d", { ifMatch: etag1 }), (e) => hasErrorCode(e, "E_CONFLICT"));
      assert.ok(await rs.get("d"));
      await rs.delete("d", { ifMatch: etag2 });
      assert.equal(await rs.get("d"), undefined);
      await rs.save(state("e"));
      await rs.delete("e");
      assert.equal(await rs.get("e"), undefined);
      await assert.rejects(rs.delete("e"), (e) => hasErrorCode(e, "E_NOT_FOUND"));
    });

    t.test("an invalid record is refused naming the field and value, with nothing written", async () => {
      const { store, calls } = recordingStore(await makeStore());
      const rs = createRecordStore(store, { prefix: freshPrefix() });
      const cases: [unknown, string][] = [
        [{ ...state("s"), status: "" }, "status"],
        [{ ...state("s"), status: "x".repeat(129) }, "status"],
        [{ ...state("s"), status: "a\nb" }, "status"],
        [{ ...state("s"), status: undefined }, "status"],
        [{ ...state("s"), resource_id: "" }, "resource_id"],
        [{ ...state("s"), outputs: [1] }, "outputs"],
        [{ ...state("s"), dependencies: "vpc" }, "dependencies"],
        [{ ...state("s"), created_at: "yesterday" }, "created_at"],
        [{ ...state("s"), resourceType: "x" }, "resourceType"],
      ];
      for (const [bad, field] of cases)
        await assert.rejects(rs.save(bad as IaCStateInput), (e) => {
          assert.ok(hasErrorCode(e, "E_INVALID_RECORD"), String(e));
          assert.equal(e.details.field, field);
          assert.ok(e.message.includes(field));
          return true;
        });
      await assert.rejects(rs.save({ ...state("s"), status: 5 } as never), /status 5/);
      assert.deepEqual(calls, []);
    });

    t.test("invalid ids are refused before any I/O", async () => {
      const { store, calls } = recordingStore(await makeStore());
      const rs = createRecordStore(store, { prefix: freshPrefix() });
      const bad = [
        "",
        "a\u0000b",
        "line\nbreak",
        "tab\t",
        "del\u007f",
        "c1\u0085",
        "x".repeat(257),
        "\ud800",
        7,
      ];
      for (const id of bad as string[]) {
        const isInvalid = (e: unknown) => hasErrorCode(e, "E_INVALID_NAME");
        await assert.rejects(rs.get(id), isInvalid);
        await assert.rejects(rs.save(state(id)), (e) =>
          hasErrorCode(e, "E_INVALID_NAME", "E_INVALID_RECORD"),
        );
        await assert.rejects(rs.delete(id), isInvalid);
        await assert.rejects(rs.lock(id), isInvalid);
        await assert.rejects(rs.unlock(id, "0".repeat(32)), isInvalid);
        await assert.rejects(rs.forceUnlock(id), isInvalid);
        await assert.rejects(rs.lockInfo(id), isInvalid);
      }
      assert.throws(
        () => createRecordStore(store, { prefix: "../up/" }),
        (e) => hasErrorCode(e, "E_INVALID_NAME"),
      );
      assert.throws(
        () => createRecordStore(store, { prefix: "/abs/" }),
        (e) => hasErrorCode(e, "E_INVALID_NAME"),
      );
      assert.deepEqual(calls, []);
      const longest = [
        "y".repeat(256),
        "é".repeat(128),
        "/".repeat(256),
        `${"a".repeat(119)}%${"b".repeat(136)}`,
      ];
      for (const id of longest) await rs.save(state(id));
      for (const id of longest)
        assert.equal((await rs.get(id))?.state.resource_id, id, "the longest ids are accepted");
      assert.deepEqual(ids(await rs.list()), [...longest].sort());
    });

    t.test("encrypted records round-trip, hide their content, and are bound to their key", async () => {
      const store = await makeStore();
      const prefix = freshPrefix();
      const rs = createRecordStore(store, { prefix, encrypter: keyEncrypter({ key: randomBytes(32) }) });
      await rs.save(state("secret-db", { outputs: { password: "hunter2-plaintext-marker" } }));
      assert.deepEqual((await rs.get("secret-db"))?.state.outputs, { password: "hunter2-plaintext-marker" });
      const raw = await store.get(recordKey(prefix, "secret-db"));
      assert.ok(raw);
      assert.ok(!Buffer.from(raw.body).toString("latin1").includes("hunter2"));
      await store.put(recordKey(prefix, "other-db"), raw.body);
      await assert.rejects(rs.get("other-db"), (e) => hasErrorCode(e, "E_DECRYPT"));
      const list = await rs.list();
      assert.deepEqual(ids(list), ["secret-db"]);
      assert.deepEqual(
        list.unreadable.map((u) => [u.id, u.error.code]),
        [["other-db", "E_DECRYPT"]],
      );
      const wrongKey = createRecordStore(store, {
        prefix,
        encrypter: keyEncrypter({ key: randomBytes(32) }),
      });
      await assert.rejects(wrongKey.get("secret-db"), (e) => hasErrorCode(e, "E_DECRYPT"));
      await assert.rejects(wrongKey.save(state("secret-db")), (e) => hasErrorCode(e, "E_DECRYPT"));
      assert.deepEqual((await rs.get("secret-db"))?.state.outputs, { password: "hunter2-plaintext-marker" });
      const plain = createRecordStore(store, { prefix });
      await assert.rejects(plain.get("secret-db"), (e) => hasErrorCode(e, "E_CORRUPT"));
    });

    recordLockConformance(t, makeStore);
  });
}
