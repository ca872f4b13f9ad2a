import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { isStateKeeperError } from "../../src/errors.js";
import {
  compareRevisions,
  decodeSnapshot,
  type Entry,
  encodeSnapshot,
  formatRfc3339Nano,
  type JsonObject,
  type JsonValue,
  type Snapshot,
  sortRevisions,
} from "../../src/snapshot/index.js";

const HOSTILE_KEYS = ["__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "toJSON"];

/** Any UTF-16 unit, lone surrogates included: JSON must carry them all. */
const text = fc.oneof(
  fc.string(),
  fc.string({ unit: "binary" }),
  fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) }),
);
const nonEmptyText = text.filter((s) => s !== "");
const key = fc.oneof(fc.constantFrom(...HOSTILE_KEYS), text);

// -0 is not representable in JSON text (it encodes as 0), so it cannot round-trip.
const number = fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true })).map((n) => n + 0);

const { json } = fc.letrec<{ json: JsonValue }>((tie) => ({
  json: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    number,
    text,
    fc.array(tie("json"), { maxLength: 4 }),
    // fromEntries defines keys, so "__proto__" is generated as data, like JSON.parse does.
    fc.array(fc.tuple(key, tie("json")), { maxLength: 4 }).map((kv) => Object.fromEntries(kv) as JsonObject),
  ),
}));
const jsonObject = fc
  .array(fc.tuple(key, json), { minLength: 1, maxLength: 5 })
  .map((kv) => Object.fromEntries(kv) as JsonObject);
const names = fc.array(text, { minLength: 1, maxLength: 3 });

const entry: fc.Arbitrary<Entry> = fc
  .record(
    {
      address: nonEmptyText,
      type: fc.constantFrom("leaf", "library-call", "action" as const),
      kind: nonEmptyText,
      schemaVersion: fc.integer({ min: 1, max: 2 ** 31 }),
      sensitiveInputs: names,
      sensitiveOutputs: names,
      library: nonEmptyText,
      libraryType: nonEmptyText,
      configuration: nonEmptyText,
      triggerHash: nonEmptyText,
      inputs: jsonObject,
      outputs: jsonObject,
      dependsOn: names,
    },
    { requiredKeys: ["address", "type"], noNullPrototype: true },
  )
  .map((e) => {
    if (e.type === "library-call") return { library: "lib", libraryType: "type", ...e };
    return { kind: "kind", ...e };
  });

const MAX_EPOCH_NANOS = BigInt(Date.parse("9999-12-31T23:59:59.999Z")) * 1_000_000n + 999_999n;

const snapshot: fc.Arbitrary<Snapshot> = fc
  .record(
    {
      factory: fc.record(
        { name: nonEmptyText, version: text, contentRevision: text },
        { noNullPrototype: true },
      ),
      stack: nonEmptyText,
      generatedAt: fc.bigInt({ min: 0n, max: MAX_EPOCH_NANOS }).map(formatRfc3339Nano),
      entries: fc.uniqueArray(entry, { selector: (e) => e.address, maxLength: 6 }),
      outputs: jsonObject,
    },
    { requiredKeys: ["factory", "stack", "generatedAt", "entries"], noNullPrototype: true },
  )
  .map((s) => ({ formatVersion: 1, ...s }));

function prototypeKeys(): string[] {
  return Object.getOwnPropertyNames(Object.prototype).sort();
}

test("fuzz: decode(encode(s)) deep-equals s, encoding is deterministic, prototypes stay clean", () => {
  const before = prototypeKeys();
  fc.assert(
    fc.property(snapshot, (s) => {
      const bytes = encodeSnapshot(s);
      assert.deepEqual(encodeSnapshot(s), bytes);
      const back = decodeSnapshot(bytes);
      assert.deepEqual(back, s);
      assert.deepEqual(encodeSnapshot(back), bytes);
    }),
    { numRuns: 300 },
  );
  assert.deepEqual(prototypeKeys(), before);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

const validDocument = snapshot.map((s) => encodeSnapshot(s));
const mutated = fc
  .tuple(
    validDocument,
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
    fc.nat(),
  )
  .map(([bytes, flips, cut]) => {
    const copy = bytes.slice(0, bytes.length - (cut % Math.max(1, Math.min(bytes.length, 8))));
    for (const [at, value] of flips) if (copy.length > 0) copy[at % copy.length] = value;
    return copy;
  });
const documentLike = fc
  .record({
    "format-version": fc.oneof(fc.constant(1), json),
    stack: fc.oneof(json, fc.record({ name: json, version: json, "content-revision": json })),
    "deployment-id": json,
    "generated-at": fc.oneof(json, fc.constant("2026-01-01T00:00:00Z")),
    entries: fc.oneof(json, fc.array(fc.oneof(json, jsonObject))),
    outputs: json,
  })
  .map((d) => JSON.stringify(d));

test("fuzz: arbitrary bytes and strings into decodeSnapshot raise only StateKeeperErrors", () => {
  const before = prototypeKeys();
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 256 }),
        text,
        json.map((v) => JSON.stringify(v)),
        mutated,
        documentLike,
      ),
      (input) => {
        try {
          const s = decodeSnapshot(input);
          // Whatever decodes must be a valid snapshot that encodes again.
          encodeSnapshot(s);
        } catch (e) {
          assert.ok(isStateKeeperError(e), `escaped: ${String(e)}`);
        }
      },
    ),
    { numRuns: 1000 },
  );
  assert.deepEqual(prototypeKeys(), before);
});

const revisionLike = fc.oneof(
  // A narrow range of instants so equal instants and suffix ties are common.
  fc.tuple(fc.bigInt({ min: 0n, max: 3_000_000_000n }), fc.nat({ max: 12 })).map(([ns, n]) => {
    const base = formatRfc3339Nano(1_778_000_000_000_000_000n + ns);
    return n === 0 ? base : `${base}_${n}`;
  }),
  fc.constantFrom("2026-05-12T15:30:00.10Z", "2026-05-12T15:30:00.1Z", "2026-05-12T15:30:00Z_01", "current"),
  text,
);

test("fuzz: sortRevisions is a sorted, idempotent permutation that leaves its input alone", () => {
  fc.assert(
    fc.property(fc.array(revisionLike, { maxLength: 30 }), (revs) => {
      const input = [...revs];
      const sorted = sortRevisions(revs);
      assert.deepEqual(revs, input);
      assert.deepEqual([...sorted].sort(), [...input].sort());
      for (let i = 0; i + 1 < sorted.length; i++)
        assert.ok(compareRevisions(sorted[i] as string, sorted[i + 1] as string) <= 0);
      assert.deepEqual(sortRevisions(sorted), sorted);
    }),
    { numRuns: 500 },
  );
});
