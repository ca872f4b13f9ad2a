// The spaces key layout and `migrateRecordKeys` on what DigitalOcean's Spaces state store wrote
// (objects built by ./spaces-original.ts from its Go code), on any store: spaces-layout.test.ts
// runs these on the file store, spaces-layout-s3.test.ts on RGW.
import assert from "node:assert/strict";
import { test } from "node:test";
import { hasErrorCode, LockedError } from "../../src/errors.js";
import type { ObjectStore } from "../../src/objectstore/types.js";
import { migrateRecordKeys } from "../../src/records/migrate-keys.js";
import { createRecordStore } from "../../src/records/store.js";
import { interceptStore, recordingStore } from "../../src/testing/index.js";
import { freshPrefix } from "../../src/testing/records-fixtures.js";
import { countCalls } from "../../src/testing/store-decorators.js";
import { lockKey, type OriginalState, stateKey, writeOriginal } from "./spaces-original.js";

const ids = (list: { records: { state: { resource_id: string } }[] }) =>
  list.records.map((r) => r.state.resource_id);

async function keysUnder(store: ObjectStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const info of store.list(prefix)) keys.push(info.key.slice(prefix.length));
  return keys;
}

const ORIGINALS: OriginalState[] = [
  {
    resource_id: "lb.eu-1",
    resource_type: "load_balancer",
    provider: "digitalocean",
    provider_id: "a1b2",
    status: "drifted",
    outputs: { ip: "203.0.113.7", html: "<b>&</b>" },
    config: { size: "lb-small" },
    dependencies: ["vpc/main"],
    created_at: "2025-03-01T09:00:00Z",
    updated_at: "2025-03-02T10:30:00Z",
  },
  {
    resource_id: "svc/a",
    resource_type: "app",
    provider: "digitalocean",
    status: "active",
    outputs: null, // a Go nil map
    config: null,
    created_at: "2025-03-01T09:00:00Z",
    updated_at: "2025-03-01T09:00:00Z",
  },
  { resource_id: "team\\db", resource_type: "database", provider: "digitalocean", status: "pending" },
  { resource_id: "web1", resource_type: "droplet", provider: "digitalocean", status: "active", error: "" },
];

export function spacesLayoutCases(name: string, makeStore: () => Promise<ObjectStore>): void {
  test(`${name}: the spaces layout opens what the original wrote, in place`, async () => {
    const store = await makeStore();
    const prefix = freshPrefix("spaces");
    const lockedAt = new Date("2025-04-01T12:00:00Z");
    await writeOriginal(store, prefix, ORIGINALS, [{ id: "lb.eu-1", at: lockedAt }]);
    const rs = createRecordStore(store, { prefix, layout: "spaces" });
    assert.equal(rs.layout, "spaces");

    const lb = await rs.get("lb.eu-1");
    assert.ok(lb, "lb.eu-1.json is the record of lb.eu-1");
    assert.equal(lb.state.status, "drifted");
    assert.deepEqual(lb.state.outputs, { ip: "203.0.113.7", html: "<b>&</b>" });
    assert.deepEqual(lb.state.dependencies, ["vpc/main"]);
    assert.equal(lb.state.updated_at, "2025-03-02T10:30:00Z");
    const svc = await rs.get("svc/a");
    assert.ok(svc, "svc_a.json whose body names svc/a is readable as svc/a");
    assert.deepEqual([svc.state.outputs, svc.state.config], [{}, {}]);
    await assert.rejects(
      rs.get("svc_a"),
      (e) => hasErrorCode(e, "E_ALREADY_EXISTS") && e.details.other === "svc/a",
      "svc_a.json is svc/a's record: reading it as svc_a is refused, not answered with svc/a's record",
    );
    assert.equal((await rs.get("team\\db"))?.state.status, "pending");

    const all = await rs.list();
    assert.deepEqual(ids(all), ["lb.eu-1", "svc/a", "team\\db", "web1"], "ids decoded from the bodies");
    assert.deepEqual(all.unreadable, []);
    assert.deepEqual(ids(await rs.list({ status: "drifted" })), ["lb.eu-1"]);
    assert.deepEqual(ids(await rs.list({ status: "pending", provider: "digitalocean" })), ["team\\db"]);

    // The original's lock (a bare timestamp) is a lock, with its holder's since.
    assert.equal((await rs.lockInfo("lb.eu-1"))?.since, "2025-04-01T12:00:00Z");
    await assert.rejects(
      rs.lock("lb.eu-1"),
      (e) => e instanceof LockedError && e.holder?.since === "2025-04-01T12:00:00Z",
    );

    // Writing keeps the original's keys and a body it reads; a caller's updated_at is kept.
    await rs.save(
      { ...svc.state, status: "destroying", updated_at: "2025-05-05T05:05:05Z" },
      { ifMatch: svc.etag },
    );
    const raw = await store.get(`${prefix}svc_a.json`);
    assert.ok(raw);
    const body = JSON.parse(new TextDecoder().decode(raw.body));
    assert.deepEqual(
      [body.resource_id, body.status, body.updated_at, body.created_at],
      ["svc/a", "destroying", "2025-05-05T05:05:05Z", "2025-03-01T09:00:00Z"],
    );
    await rs.save({ resource_id: "new/one", status: "planned" });
    assert.ok(await store.head(`${prefix}new_one.json`), "a new record goes where the original would put it");
    const lock = await rs.lock("new/one");
    assert.ok(await store.head(lockKey(prefix, "new/one")));
    await rs.unlock("new/one", lock);

    // The force form of unlock removes the original's lock and returns its holder.
    assert.equal((await rs.unlock("lb.eu-1"))?.since, "2025-04-01T12:00:00Z");
    await assert.rejects(rs.unlock("lb.eu-1"), (e) => hasErrorCode(e, "E_NOT_FOUND"));

    // The default layout cannot see these: that is what migrate-keys is for.
    const lossless = createRecordStore(store, { prefix });
    assert.equal(await lossless.get("lb.eu-1"), undefined);
  });

  test(`${name}: ids that share a key in the spaces layout are refused before any write, both ways`, async () => {
    const inner = await makeStore();
    const prefix = freshPrefix("collide");
    await writeOriginal(inner, prefix, [
      { resource_id: "svc_a", status: "active" },
      { resource_id: "db/x", status: "active" },
    ]);
    const before = await keysUnder(inner, prefix);
    const { store, calls } = recordingStore(inner);
    const rs = createRecordStore(store, { prefix, layout: "spaces" });
    const collision = (id: string, other: string, key: string) => (e: unknown) => {
      assert.ok(hasErrorCode(e, "E_ALREADY_EXISTS"), String(e));
      assert.deepEqual(e.details, { id, other, key: `${prefix}${key}` });
      assert.ok(e.message.includes(JSON.stringify(id)) && e.message.includes(JSON.stringify(other)));
      assert.ok(e.message.includes(key));
      return true;
    };
    for (const opts of [{}, { ifNoneMatch: "*" as const }]) {
      await assert.rejects(
        rs.save({ resource_id: "svc/a", status: "active" }, opts),
        collision("svc/a", "svc_a", "svc_a.json"),
      );
      await assert.rejects(
        rs.save({ resource_id: "db_x", status: "active" }, opts),
        collision("db_x", "db/x", "db_x.json"),
      );
      await assert.rejects(
        rs.save({ resource_id: "db\\x", status: "active" }, opts),
        collision("db\\x", "db/x", "db_x.json"),
      );
    }
    await assert.rejects(rs.get("svc/a"), collision("svc/a", "svc_a", "svc_a.json"));
    await assert.rejects(rs.delete("db_x"), collision("db_x", "db/x", "db_x.json"));
    assert.equal(countCalls(calls, "put", "delete"), 0, "nothing written");
    assert.deepEqual(await keysUnder(inner, prefix), before);
    assert.equal((await rs.get("svc_a"))?.state.resource_id, "svc_a");
    await rs.delete("db/x");
    assert.equal(await rs.get("db/x"), undefined);
  });

  test(`${name}: migrate-keys moves to lossless keys, verified, and a run stopped midway resumes`, async () => {
    const inner = await makeStore();
    const prefix = freshPrefix("migrate");
    const chain: OriginalState[] = [
      // q%2Fr.json is both q%2Fr's Spaces key and q/r's lossless key: q%2Fr must move first.
      { resource_id: "q/r", status: "active", outputs: { n: 1 } },
      { resource_id: "q%2Fr", status: "active", outputs: { n: 2 } },
      { resource_id: "held/one", status: "active" },
    ];
    await writeOriginal(inner, prefix, [...ORIGINALS, ...chain], [{ id: "held/one", at: new Date() }]);
    const before = await keysUnder(inner, prefix);

    const dry = await migrateRecordKeys(inner, { prefix, dryRun: true });
    assert.deepEqual(await keysUnder(inner, prefix), before, "a dry run writes nothing");
    assert.deepEqual(
      dry.moved.map((m) => m.id),
      ["lb.eu-1", "q%2Fr", "q/r", "svc/a", "team\\db"],
    );
    assert.equal(dry.alreadyLossless, 1, "web1 has the same key in both layouts");
    assert.deepEqual(
      dry.skipped.map((s) => [s.id, s.code]),
      [["held/one", "E_LOCKED"]],
    );

    // Interrupted: the third source removal fails as if the process died there.
    let deletes = 0;
    const dying = interceptStore(inner, (call) => {
      if (call.op === "delete" && ++deletes === 3) throw new Error("killed");
      return undefined;
    });
    await assert.rejects(migrateRecordKeys(dying, { prefix }), /killed/);
    const mid = createRecordStore(inner, { prefix });
    let both = 0;
    for (const o of [...ORIGINALS, ...chain]) {
      const source = await inner.get(stateKey(prefix, o.resource_id));
      // q%2Fr.json may hold q/r's copy by now: only a body naming this id is its source.
      const atSource =
        source !== undefined &&
        JSON.parse(new TextDecoder().decode(source.body)).resource_id === o.resource_id;
      const copied = (await mid.get(o.resource_id)) !== undefined;
      assert.ok(atSource || copied, `${o.resource_id} is at its Spaces key or its verified copy`);
      if (atSource && copied && o.resource_id !== "web1") both++;
    }
    assert.equal(both, 1, "the record being moved when the run stopped has its source and its copy");

    const events: string[] = [];
    const report = await migrateRecordKeys(inner, { prefix, onProgress: (e) => events.push(e.phase) });
    assert.deepEqual(
      report.skipped.map((s) => [s.id, s.code]),
      [["held/one", "E_LOCKED"]],
      "a locked record is left where it is",
    );
    assert.equal(report.complete, false);
    assert.equal(
      report.moved.length + report.alreadyLossless + report.skipped.length,
      7,
      "each record is counted once, the one at both keys as moved",
    );
    assert.ok(events.includes("move"));
    const moved = new Set([...dry.moved.map((m) => m.id)]);
    const total = new Set([...report.moved.map((m) => m.id)]);
    for (const id of total) assert.ok(moved.has(id));

    // Every record reads back under the default layout with what the original wrote.
    const rs = createRecordStore(inner, { prefix });
    const list = await rs.list();
    assert.deepEqual(
      list.unreadable.map((u) => u.key),
      [`${prefix}held_one.json`],
      "only the locked one is left at its Spaces key",
    );
    assert.deepEqual(ids(list), ["lb.eu-1", "q%2Fr", "q/r", "svc/a", "team\\db", "web1"]);
    for (const o of [...ORIGINALS, ...chain].filter((o) => o.resource_id !== "held/one")) {
      const got = await rs.get(o.resource_id);
      assert.ok(got, o.resource_id);
      assert.equal(got.state.status, o.status);
      assert.equal(got.state.updated_at, o.updated_at ?? "");
      assert.deepEqual(got.state.outputs, o.outputs ?? {});
    }
    for (const id of ["lb.eu-1", "svc/a", "team\\db"])
      assert.equal(await inner.head(stateKey(prefix, id)), undefined, `${id}'s Spaces-key object is gone`);

    // Unlocked, a rerun finishes; another rerun has nothing to do.
    await inner.delete(lockKey(prefix, "held/one"));
    const last = await migrateRecordKeys(inner, { prefix });
    assert.deepEqual([last.moved.map((m) => m.id), last.complete], [["held/one"], true]);
    const idle = await migrateRecordKeys(inner, { prefix });
    assert.deepEqual([idle.moved.length, idle.alreadyLossless, idle.complete], [0, 7, true]);
  });

  test(`${name}: migrate-keys never overwrites a different version at the lossless key, nor drops the source`, async () => {
    const store = await makeStore();
    const prefix = freshPrefix("migrate-conflict");
    await writeOriginal(store, prefix, [{ resource_id: "svc/a", status: "active" }]);
    const lossless = createRecordStore(store, { prefix });
    await lossless.save({ resource_id: "svc/a", status: "planned" });
    const report = await migrateRecordKeys(store, { prefix });
    assert.deepEqual(
      report.skipped.map((s) => [s.id, s.code]),
      [["svc/a", "E_ALREADY_EXISTS"]],
    );
    assert.match(report.skipped[0]?.reason ?? "", /different version/);
    assert.ok(await store.head(stateKey(prefix, "svc/a")), "the source is left in place");
    assert.equal((await lossless.get("svc/a"))?.state.status, "planned", "the target is untouched");
  });
}
