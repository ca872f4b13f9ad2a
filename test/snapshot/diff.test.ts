import assert from "node:assert/strict";
import { test } from "node:test";
import {
  diffSnapshots,
  type Entry,
  hasChanges,
  type JsonObject,
  maskSensitive,
  SENSITIVE_MASK,
} from "../../src/snapshot/index.js";
import { snapshotWith } from "./helpers.js";

const db = (over: Partial<Entry> = {}): Entry => ({
  address: "db.main",
  type: "leaf",
  kind: "postgres",
  schemaVersion: 1,
  sensitiveInputs: ["password"],
  sensitiveOutputs: ["conn"],
  inputs: { password: "old-pw", size: "small", tags: { env: "prod", team: "a" } },
  outputs: { conn: "pg://old", host: "h1" },
  dependsOn: ["net.a", "net.b"],
  ...over,
});

test("identical snapshots have no changes", () => {
  const d = diffSnapshots(
    snapshotWith([db()]),
    snapshotWith([db()], { generatedAt: "2027-01-01T00:00:00Z" }),
  );
  assert.deepEqual(d, { snapshot: [], added: [], removed: [], changed: [], outputs: [] });
  assert.equal(hasChanges(d), false);
});

test("added and removed entries by address, sorted, with sensitive values masked", () => {
  const other: Entry = { address: "app", type: "action", kind: "run" };
  const d = diffSnapshots(snapshotWith([other]), snapshotWith([db()]));
  assert.equal(hasChanges(d), true);
  assert.deepEqual(d.removed, [other]);
  assert.equal(d.added.length, 1);
  assert.equal(d.added[0]?.inputs?.password, SENSITIVE_MASK);
  assert.equal(d.added[0]?.outputs?.conn, SENSITIVE_MASK);
  assert.equal(d.added[0]?.inputs?.size, "small");
  assert.doesNotMatch(JSON.stringify(d), /old-pw|pg:\/\/old/);
  const shown = diffSnapshots(snapshotWith([other]), snapshotWith([db()]), { showSensitive: true });
  assert.equal(shown.added[0]?.inputs?.password, "old-pw");
});

test("changed entries: scalar fields, nested input paths, dependsOn items", () => {
  const after = db({
    schemaVersion: 2,
    kind: "postgres15",
    configuration: "aws.eu",
    inputs: { password: "old-pw", size: "large", tags: { env: "staging", team: "a", new: true } },
    outputs: { conn: "pg://old", host: "h1", ports: [5432] },
    dependsOn: ["net.b", "net.c"],
  });
  const d = diffSnapshots(snapshotWith([db()]), snapshotWith([after]));
  assert.equal(d.changed.length, 1);
  const c = d.changed[0];
  assert.ok(c);
  assert.equal(c.address, "db.main");
  assert.deepEqual(c.fields, [
    { field: "kind", before: "postgres", after: "postgres15" },
    { field: "schemaVersion", before: 1, after: 2 },
    { field: "configuration", after: "aws.eu" },
  ]);
  assert.deepEqual(c.inputs, [
    { path: "size", before: "small", after: "large" },
    { path: "tags.env", before: "prod", after: "staging" },
    { path: "tags.new", after: true },
  ]);
  assert.deepEqual(c.outputs, [{ path: "ports", after: [5432] }]);
  assert.deepEqual(c.dependsOn, { added: ["net.c"], removed: ["net.a"] });
});

test("a changed sensitive value is reported, masked, at its top-level key only", () => {
  const after = db({
    inputs: { password: { v: "new-pw" }, size: "small", tags: { env: "prod", team: "a" } },
    outputs: { host: "h1" },
  });
  const d = diffSnapshots(snapshotWith([db()]), snapshotWith([after]));
  const c = d.changed[0];
  assert.ok(c);
  assert.deepEqual(c.inputs, [{ path: "password", before: SENSITIVE_MASK, after: SENSITIVE_MASK }]);
  assert.deepEqual(c.outputs, [{ path: "conn", before: SENSITIVE_MASK }]);
  assert.doesNotMatch(JSON.stringify(d), /old-pw|new-pw|pg:\/\/old/);
  const shown = diffSnapshots(snapshotWith([db()]), snapshotWith([after]), { showSensitive: true });
  assert.deepEqual(shown.changed[0]?.inputs, [
    { path: "password", before: "old-pw", after: { v: "new-pw" } },
  ]);
  assert.deepEqual(shown.changed[0]?.outputs, [{ path: "conn", before: "pg://old" }]);
});

test("a field marked sensitive on either side is masked on both", () => {
  const before = db({ sensitiveInputs: [], inputs: { password: "plain-before" } });
  const after = db({ inputs: { password: "secret-after" } });
  const c = diffSnapshots(snapshotWith([before]), snapshotWith([after])).changed[0];
  assert.deepEqual(c?.inputs, [{ path: "password", before: SENSITIVE_MASK, after: SENSITIVE_MASK }]);
  assert.deepEqual(c?.fields, [{ field: "sensitiveInputs", before: [], after: ["password"] }]);
});

test("array elements and odd keys get readable paths", () => {
  const before = db({ sensitiveInputs: [], inputs: { list: [1, 2], "a.b": { "x y": 1 } } });
  const after = db({ sensitiveInputs: [], inputs: { list: [1, 3, 4], "a.b": { "x y": 2 } } });
  const c = diffSnapshots(snapshotWith([before]), snapshotWith([after])).changed[0];
  assert.deepEqual(c?.inputs, [
    { path: '["a.b"]["x y"]', before: 1, after: 2 },
    { path: "list[1]", before: 2, after: 3 },
    { path: "list[2]", after: 4 },
  ]);
});

test("snapshot-level outputs and factory changes", () => {
  const a = snapshotWith([], { outputs: { url: "u1", keep: 1 } });
  const b = snapshotWith([], { outputs: { url: "u2", keep: 1, extra: null } });
  b.factory.version = "2.0.0";
  const d = diffSnapshots(a, b);
  assert.deepEqual(d.outputs, [
    { path: "extra", after: null },
    { path: "url", before: "u1", after: "u2" },
  ]);
  assert.deepEqual(d.snapshot, [{ field: "factory.version", before: "1.4.0", after: "2.0.0" }]);
});

test("__proto__ keys diff as data", () => {
  const inputs = (json: string) => JSON.parse(json) as JsonObject;
  const before = db({ sensitiveInputs: [], inputs: inputs('{"__proto__": 1}') });
  const after = db({ sensitiveInputs: [], inputs: inputs('{"constructor": 2}') });
  const c = diffSnapshots(snapshotWith([before]), snapshotWith([after])).changed[0];
  assert.deepEqual(c?.inputs, [
    { path: "__proto__", before: 1 },
    { path: "constructor", after: 2 },
  ]);
});

test("maskSensitive returns a masked copy and leaves the entry alone", () => {
  const entry = db();
  const masked = maskSensitive(entry);
  assert.deepEqual(masked.inputs, {
    password: SENSITIVE_MASK,
    size: "small",
    tags: { env: "prod", team: "a" },
  });
  assert.deepEqual(masked.outputs, { conn: SENSITIVE_MASK, host: "h1" });
  assert.equal(entry.inputs?.password, "old-pw");
  const protoKey = db({ sensitiveInputs: ["__proto__"], inputs: JSON.parse('{"__proto__": "s3cret"}') });
  const m = maskSensitive(protoKey);
  assert.ok(m.inputs && Object.hasOwn(m.inputs, "__proto__"));
  assert.equal(Object.getOwnPropertyDescriptor(m.inputs, "__proto__")?.value, SENSITIVE_MASK);
  assert.equal(Object.getPrototypeOf(m.inputs), Object.prototype);
  const plain: Entry = { address: "p", type: "action", kind: "k" };
  assert.deepEqual(maskSensitive(plain), plain);
});
