import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { hasErrorCode, isStateKeeperError } from "../../src/errors.js";
import {
  decodeSnapshot,
  encodeSnapshot,
  type JsonObject,
  MAX_JSON_DEPTH,
  newSnapshot,
  parseRfc3339,
} from "../../src/snapshot/index.js";
import { goldenSnapshot } from "./golden.js";
import { assertThrowsCode, FACTORY, snapshotWith, text } from "./helpers.js";

const GOLDEN = new URL("../fixtures/snapshot/golden-v1.json", import.meta.url);

test("encode matches the committed golden file byte for byte", () => {
  assert.deepEqual(Buffer.from(encodeSnapshot(goldenSnapshot())), readFileSync(GOLDEN));
});

test("the golden file decodes, with empty fields absent, and re-encodes to the same bytes", () => {
  const decoded = decodeSnapshot(readFileSync(GOLDEN));
  const vpc = decoded.entries.find((e) => e.address === "network.vpc");
  assert.ok(vpc);
  for (const field of ["kind", "schemaVersion", "dependsOn", "outputs"] as const)
    assert.equal(Object.hasOwn(vpc, field), false, field);
  assert.deepEqual(Buffer.from(encodeSnapshot(decoded)), readFileSync(GOLDEN));
});

test("two encodes of equal snapshots are byte-identical, whatever the key insertion order", () => {
  const a = snapshotWith([{ address: "x", type: "leaf", kind: "k", inputs: { b: 1, a: { d: 2, c: 3 } } }]);
  const b = snapshotWith([{ kind: "k", inputs: { a: { c: 3, d: 2 }, b: 1 }, type: "leaf", address: "x" }]);
  assert.deepEqual(encodeSnapshot(a), encodeSnapshot(a));
  assert.deepEqual(encodeSnapshot(a), encodeSnapshot(b));
});

test("keys are sorted at every depth, free-form maps included, with a trailing newline", () => {
  const s = snapshotWith([
    { address: "x", type: "leaf", kind: "k", inputs: { z: { y: [{ b: 1, a: { q: 1, p: 2 } }] }, a: 0 } },
  ]);
  const out = text(encodeSnapshot(s));
  assert.ok(out.endsWith("}\n"));
  const keyOrder = [...out.matchAll(/"([a-z-]+)":/g)].map((m) => m[1]);
  const inputs = keyOrder.slice(keyOrder.indexOf("inputs") + 1, keyOrder.indexOf("kind"));
  assert.deepEqual(inputs, ["a", "z", "y", "a", "p", "q", "b"]);
  assert.match(out, /^ {2}"deployment-id": "prod",$/m, "2-space indentation");
});

test("encode → decode round-trips a snapshot deep-equal, nanoseconds of generatedAt included", () => {
  const s = snapshotWith(
    [
      {
        address: "a.b",
        type: "leaf",
        kind: "k",
        schemaVersion: 3,
        sensitiveInputs: ["pw"],
        sensitiveOutputs: ["o"],
        configuration: "aws.eu",
        triggerHash: "t",
        inputs: { pw: "x", n: -0.5, deep: { list: [[], {}, [null, false]] } },
        outputs: { o: "y" },
        dependsOn: ["c"],
      },
      { address: "c", type: "library-call", library: "l", libraryType: "t" },
    ],
    { outputs: { url: "u" }, generatedAt: "2026-05-12T15:30:00.000000001Z" },
  );
  assert.deepEqual(decodeSnapshot(encodeSnapshot(s)), s);
  assert.deepEqual(decodeSnapshot(text(encodeSnapshot(s))), s, "string input");
});

test("newSnapshot: current version, copied factory info, RFC3339 generatedAt; bad arguments are refused", () => {
  const s = newSnapshot(FACTORY, "prod");
  assert.equal(s.formatVersion, 1);
  assert.deepEqual(s.factory, FACTORY);
  assert.notEqual(s.factory, FACTORY);
  assert.deepEqual(s.entries, []);
  assert.ok(parseRfc3339(s.generatedAt) !== undefined);
  assert.deepEqual(decodeSnapshot(encodeSnapshot(s)), s);
  assertThrowsCode(() => newSnapshot({ ...FACTORY, name: "" }, "prod"), "E_INVALID_ARGUMENT", "factory name");
  assertThrowsCode(() => newSnapshot(FACTORY, ""), "E_INVALID_ARGUMENT", "stack");
  assertThrowsCode(
    () => newSnapshot({ name: "f", version: 1 } as never, "prod"),
    "E_INVALID_ARGUMENT",
    "factory version",
  );
});

test("an unsupported format-version is refused with the version found and expected", () => {
  const doc = JSON.parse(text(encodeSnapshot(goldenSnapshot())));
  for (const [found, shown] of [
    [2, "2"],
    [0, "0"],
    ["1", '"1"'],
  ] as const) {
    doc["format-version"] = found;
    assert.throws(
      () => decodeSnapshot(JSON.stringify(doc)),
      (e: unknown) =>
        hasErrorCode(e, "E_FORMAT_VERSION") &&
        e.message === `unsupported format-version ${shown} (this build expects 1)` &&
        e.details.found === found &&
        e.details.expected === 1,
    );
  }
  delete doc["format-version"];
  assertThrowsCode(() => decodeSnapshot(JSON.stringify(doc)), "E_FORMAT_VERSION", "missing");
  assertThrowsCode(
    () => encodeSnapshot({ ...goldenSnapshot(), formatVersion: 2 }),
    "E_FORMAT_VERSION",
    "format-version 2",
  );
});

test("the size cap is checked before parsing: oversized garbage is E_TOO_LARGE, not E_CORRUPT", () => {
  const garbage = "{".repeat(101);
  assertThrowsCode(() => decodeSnapshot(garbage, { maxBytes: 100 }), "E_TOO_LARGE", "100");
  assertThrowsCode(() => decodeSnapshot(new Uint8Array(101).fill(0xff), { maxBytes: 100 }), "E_TOO_LARGE");
  // Three UTF-8 bytes per character: 40 characters are 120 bytes.
  assertThrowsCode(() => decodeSnapshot("€".repeat(40), { maxBytes: 100 }), "E_TOO_LARGE");
  assertThrowsCode(() => decodeSnapshot("{".repeat(100), { maxBytes: 100 }), "E_CORRUPT");
  const exact = encodeSnapshot(goldenSnapshot());
  assert.equal(decodeSnapshot(exact, { maxBytes: exact.byteLength }).stack, "prod");
  assertThrowsCode(() => decodeSnapshot(exact, { maxBytes: exact.byteLength - 1 }), "E_TOO_LARGE");
  assertThrowsCode(() => decodeSnapshot(exact, { maxBytes: -1 }), "E_INVALID_ARGUMENT", "maxBytes");
});

test("malformed input is E_CORRUPT and the message quotes none of the input", () => {
  for (const bad of ['{"format-version": 1, "secret": "hunter2"', "[]", "null", "42", ""]) {
    assert.throws(
      () => decodeSnapshot(bad),
      (e: unknown) => hasErrorCode(e, "E_CORRUPT") && !e.message.includes("hunter2") && e.cause === undefined,
    );
  }
  assertThrowsCode(() => decodeSnapshot(new Uint8Array([0x7b, 0xc3, 0x28, 0x7d])), "E_CORRUPT", "UTF-8");
  assertThrowsCode(() => decodeSnapshot(42 as never), "E_INVALID_ARGUMENT");
});

test("entries: null (as the Go original writes) decodes as no entries", () => {
  const doc = JSON.parse(text(encodeSnapshot(snapshotWith([]))));
  doc.entries = null;
  assert.deepEqual(decodeSnapshot(JSON.stringify(doc)).entries, []);
  delete doc.entries;
  assert.deepEqual(decodeSnapshot(JSON.stringify(doc)).entries, []);
});

test("Go-style documents: null optional fields and unknown fields are ignored", () => {
  const doc = JSON.parse(text(encodeSnapshot(snapshotWith([{ address: "a", type: "leaf", kind: "k" }]))));
  doc.entries[0].inputs = null;
  doc.entries[0]["future-field"] = 1;
  doc.outputs = null;
  doc["generated-at"] = "2026-05-12T17:30:00.5+02:00";
  const s = decodeSnapshot(JSON.stringify(doc));
  assert.deepEqual(s.entries, [{ address: "a", type: "leaf", kind: "k" }]);
  assert.equal(Object.hasOwn(s, "outputs"), false);
  assert.equal(s.generatedAt, "2026-05-12T17:30:00.5+02:00");
});

test("__proto__, constructor and prototype keys stay data and never pollute a prototype", () => {
  const inputs = JSON.parse(
    '{"__proto__": {"polluted": "yes"}, "constructor": {"prototype": {"polluted": "yes"}}, "prototype": 1}',
  ) as JsonObject;
  const s = snapshotWith([{ address: "a", type: "leaf", kind: "k", inputs, outputs: inputs }], {
    outputs: inputs,
  });
  const bytes = encodeSnapshot(s);
  assert.match(text(bytes), /"__proto__": \{/);
  const back = decodeSnapshot(bytes);
  assert.deepEqual(back, s);
  const entry = back.entries[0];
  assert.ok(entry?.inputs);
  assert.deepEqual(Object.keys(entry.inputs), ["__proto__", "constructor", "prototype"]);
  assert.equal(Object.getPrototypeOf(entry.inputs), Object.prototype);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal((Object.prototype as Record<string, unknown>).polluted, undefined);
  // Top-level and entry-level names read through own properties only.
  const hostile = '{"__proto__": {"format-version": 1}, "stack": {"__proto__": {"name": "x"}}}';
  assertThrowsCode(() => decodeSnapshot(hostile), "E_FORMAT_VERSION", "missing");
  assert.equal(({} as Record<string, unknown>)["format-version"], undefined);
});

test("non-JSON values in inputs/outputs are refused, naming the entry and the path", () => {
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  const deep: Record<string, unknown> = {};
  let cursor = deep;
  for (let i = 0; i <= MAX_JSON_DEPTH; i++) cursor = cursor.n = {} as Record<string, unknown>;
  const cases: Array<[unknown, string]> = [
    [{ tags: { env: undefined } }, "inputs.tags.env"],
    [{ f: () => 1 }, "inputs.f"],
    [{ list: [1, Number.NaN] }, "inputs.list[1]"],
    [{ n: Number.POSITIVE_INFINITY }, "inputs.n"],
    [{ big: 10n }, "inputs.big"],
    [{ when: new Date(0) }, "inputs.when"],
    [{ c: cyclic }, "inputs.c.self"],
    [{ "odd key": Symbol("s") }, 'inputs["odd key"]'],
    [{ holes: new Array(3) }, "inputs.holes[0]"],
    [deep, "deeper than"],
  ];
  for (const [inputs, path] of cases) {
    const s = snapshotWith([
      { address: "ok", type: "leaf", kind: "k" },
      { address: "res.bad", type: "leaf", kind: "k", inputs: inputs as JsonObject },
    ]);
    assertThrowsCode(() => encodeSnapshot(s), "E_INVALID_SNAPSHOT", 'entry 1 ("res.bad")', path);
  }
  const s = snapshotWith([], { outputs: { x: { y: undefined } } as unknown as JsonObject });
  assertThrowsCode(() => encodeSnapshot(s), "E_INVALID_SNAPSHOT", "snapshot", "outputs.x.y");
});

test("only StateKeeperErrors escape decode, even on deeply nested input", () => {
  const nested = `{"format-version":1,"stack":{"name":"f"},"deployment-id":"d","generated-at":"2026-01-01T00:00:00Z","outputs":{"x":${"[".repeat(100_000)}${"]".repeat(100_000)}}}`;
  try {
    decodeSnapshot(nested);
    assert.fail("decoded");
  } catch (e) {
    assert.ok(isStateKeeperError(e), String(e));
    assert.ok(["E_INVALID_SNAPSHOT", "E_CORRUPT"].includes(e.code));
  }
});

test("a decoded snapshot is validated: a structurally broken document is E_INVALID_SNAPSHOT", () => {
  const base = JSON.parse(text(encodeSnapshot(snapshotWith([{ address: "a", type: "leaf", kind: "k" }]))));
  const mutate = (f: (d: Record<string, unknown>) => void): string => {
    const d = structuredClone(base);
    f(d);
    return JSON.stringify(d);
  };
  assertThrowsCode(() => decodeSnapshot(mutate((d) => (d.stack = "x"))), "E_INVALID_SNAPSHOT", "factory");
  assertThrowsCode(
    () => decodeSnapshot(mutate((d) => (d["generated-at"] = "yesterday"))),
    "E_INVALID_SNAPSHOT",
    "generatedAt",
  );
  assertThrowsCode(() => decodeSnapshot(mutate((d) => (d.entries = {}))), "E_INVALID_SNAPSHOT", "entries");
  assertThrowsCode(
    () => decodeSnapshot(mutate((d) => (d.entries = [null]))),
    "E_INVALID_SNAPSHOT",
    "entry 0",
  );
});
