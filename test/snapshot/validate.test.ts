import assert from "node:assert/strict";
import { test } from "node:test";
import { hasErrorCode } from "../../src/errors.js";
import {
  type Entry,
  encodeSnapshot,
  type JsonObject,
  MAX_JSON_DEPTH,
  validateSnapshot,
} from "../../src/snapshot/index.js";
import { validateDecodedSnapshot } from "../../src/snapshot/validate.js";
import { assertThrowsCode, snapshotWith } from "./helpers.js";

const ok: Entry = { address: "ok.first", type: "leaf", kind: "k" };

/** Each broken entry sits at index 1 behind a valid one; validate and encode must both refuse it. */
function assertEntryRefused(entry: unknown, ...fragments: string[]): void {
  const s = snapshotWith([ok, entry as Entry]);
  assertThrowsCode(() => validateSnapshot(s), "E_INVALID_SNAPSHOT", "entry 1", ...fragments);
  assertThrowsCode(() => encodeSnapshot(s), "E_INVALID_SNAPSHOT", "entry 1", ...fragments);
}

test("a valid snapshot of every entry type passes", () => {
  const s = snapshotWith([
    ok,
    { address: "lib", type: "library-call", library: "aws", libraryType: "vpc" },
    { address: "act", type: "action", kind: "run", schemaVersion: 0 },
  ]);
  assert.doesNotThrow(() => validateSnapshot(s));
});

test("missing or empty address", () => {
  assertEntryRefused({ type: "leaf", kind: "k" }, "missing address");
  assertEntryRefused({ address: "", type: "leaf", kind: "k" }, "missing address");
  assertEntryRefused({ address: 7, type: "leaf", kind: "k" }, "address must be a string");
});

test("duplicate address names the address and both entries", () => {
  assertEntryRefused(
    { address: "ok.first", type: "action", kind: "x" },
    '"ok.first"',
    "duplicate",
    "entry 0",
  );
});

test("null entries and non-object entries", () => {
  assertEntryRefused(null, "null");
  assertEntryRefused(undefined, "null");
  assertEntryRefused("leaf", "not an object");
  const sparse = snapshotWith([ok]);
  sparse.entries.length = 2;
  assertThrowsCode(() => validateSnapshot(sparse), "E_INVALID_SNAPSHOT", "entry 1", "null");
});

test("missing type and unknown type", () => {
  assertEntryRefused({ address: "res.a", kind: "k" }, '"res.a"', "missing type");
  assertEntryRefused({ address: "res.a", type: "", kind: "k" }, '"res.a"', "missing type");
  assertEntryRefused(
    { address: "res.a", type: "resource", kind: "k" },
    '"res.a"',
    "unknown type",
    "resource",
  );
});

test("leaf and action need a kind", () => {
  assertEntryRefused({ address: "res.leaf", type: "leaf" }, '"res.leaf"', "missing kind");
  assertEntryRefused({ address: "res.act", type: "action", kind: "" }, '"res.act"', "missing kind");
});

test("library-call needs library and library-type", () => {
  assertEntryRefused(
    { address: "res.c", type: "library-call", libraryType: "t" },
    '"res.c"',
    "missing library ",
  );
  assertEntryRefused(
    { address: "res.c", type: "library-call", library: "l" },
    '"res.c"',
    "missing library-type",
  );
});

test("field types are checked", () => {
  const base = { address: "res.t", type: "leaf", kind: "k" };
  for (const field of ["kind", "library", "libraryType", "configuration", "triggerHash"])
    assertEntryRefused({ ...base, [field]: 1 }, '"res.t"', `${field} must be a string`);
  for (const field of ["sensitiveInputs", "sensitiveOutputs", "dependsOn"]) {
    assertEntryRefused({ ...base, [field]: "a" }, '"res.t"', `${field} must be a list of strings`);
    assertEntryRefused({ ...base, [field]: ["a", 1] }, '"res.t"', `${field} must be a list of strings`);
  }
  for (const field of ["inputs", "outputs"]) {
    assertEntryRefused({ ...base, [field]: [1] }, '"res.t"', `${field} must be a JSON object`);
    assertEntryRefused({ ...base, [field]: "x" }, '"res.t"', `${field} must be a JSON object`);
  }
});

test("schemaVersion must be a non-negative integer", () => {
  for (const bad of [-1, 1.5, Number.NaN, "2", 2 ** 53])
    assertEntryRefused(
      { address: "res.s", type: "leaf", kind: "k", schemaVersion: bad },
      '"res.s"',
      "schemaVersion",
    );
});

test("snapshot-level fields: factory, stack, generatedAt, entries, outputs", () => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ factory: { name: "", version: "", contentRevision: "" } }, "factory name"],
    [{ factory: { name: "f", version: 1, contentRevision: "" } }, "factory version"],
    [{ factory: null }, "factory info"],
    [{ stack: "" }, "stack"],
    [{ generatedAt: "2026-13-01T00:00:00Z" }, "generatedAt"],
    [{ generatedAt: "2026-02-30T00:00:00Z" }, "generatedAt"],
    [{ entries: null }, "entries"],
    [{ outputs: [] }, "outputs must be a JSON object"],
  ];
  for (const [patch, fragment] of cases)
    assertThrowsCode(
      () => validateSnapshot({ ...snapshotWith([ok]), ...patch }),
      "E_INVALID_SNAPSHOT",
      fragment,
    );
  assertThrowsCode(() => validateSnapshot(null), "E_INVALID_SNAPSHOT", "must be an object");
});

test("validateSnapshot checks inside free-form maps too, naming the path", () => {
  const s = snapshotWith([
    ok,
    {
      address: "res.deep",
      type: "leaf",
      kind: "k",
      outputs: { a: { b: [undefined] } } as unknown as JsonObject,
    },
  ]);
  assertThrowsCode(() => validateSnapshot(s), "E_INVALID_SNAPSHOT", '"res.deep"', "outputs.a.b[0]");
  assert.doesNotThrow(() => validateSnapshot(s, { deep: false }));
});

test("validation messages never include input or output values", () => {
  const s = snapshotWith([
    ok,
    { address: "res.secret", type: "leaf", kind: "k", inputs: { password: "hunter2", bad: Number.NaN } },
  ]);
  assert.throws(
    () => encodeSnapshot(s),
    (e: unknown) => hasErrorCode(e, "E_INVALID_SNAPSHOT") && !e.message.includes("hunter2"),
  );
});

test("a decoded snapshot is validated as strictly: nesting too deep in an entry is refused with the same error", () => {
  const nested = (levels: number) => `${'{"n":'.repeat(levels)}1${"}".repeat(levels)}`;
  const decoded = (levels: number) =>
    snapshotWith([
      ok,
      JSON.parse(`{"address":"res.deep","type":"leaf","kind":"k","outputs":${nested(levels)}}`),
    ]);
  // At the limit both pass; one level more, both refuse it naming the same entry and path.
  assert.doesNotThrow(() => validateDecodedSnapshot(decoded(MAX_JSON_DEPTH)));
  assert.doesNotThrow(() => validateSnapshot(decoded(MAX_JSON_DEPTH)));
  const messageOf = (fn: () => void): string => {
    try {
      fn();
    } catch (e) {
      assert.ok(hasErrorCode(e, "E_INVALID_SNAPSHOT"), String(e));
      return e.message;
    }
    return assert.fail("not refused");
  };
  const full = messageOf(() => validateSnapshot(decoded(MAX_JSON_DEPTH + 1)));
  assert.match(full, /entry 1 \("res\.deep"\).*deeper than/);
  assert.equal(
    messageOf(() => validateDecodedSnapshot(decoded(MAX_JSON_DEPTH + 1))),
    full,
  );
  // Every other rule is the one validateSnapshot applies.
  const broken = snapshotWith([ok, JSON.parse('{"address":"ok.first","type":"leaf","kind":"k"}')]);
  assert.equal(
    messageOf(() => validateDecodedSnapshot(broken)),
    messageOf(() => validateSnapshot(broken)),
  );
});
