import assert from "node:assert/strict";
import { test } from "node:test";
import {
  compareRevisions,
  formatRfc3339Nano,
  isValidRevision,
  MAX_REVISION_ATTEMPTS,
  newRevision,
  parseRevision,
  parseRfc3339,
  revisionWithSuffix,
  sortRevisions,
} from "../../src/snapshot/index.js";
import { assertThrowsCode } from "./helpers.js";

const T = "2026-05-12T15:30:00Z";
const T_NS = BigInt(Date.parse(T)) * 1_000_000n;
const GOLDEN = [
  "2026-05-12T15:30:00Z",
  "2026-05-12T15:30:00Z_2",
  "2026-05-12T15:30:00Z_10",
  "2026-05-12T15:30:00.1Z",
  "2026-05-12T15:30:01Z",
  "invalid-a",
  "invalid-z",
];

test("revisions are formatted as Go's RFC3339Nano: UTC, trailing zeros trimmed, no empty fraction", () => {
  assert.equal(formatRfc3339Nano(T_NS), T);
  assert.equal(formatRfc3339Nano(T_NS + 123_456_789n), "2026-05-12T15:30:00.123456789Z");
  assert.equal(formatRfc3339Nano(T_NS + 120_000_000n), "2026-05-12T15:30:00.12Z");
  assert.equal(formatRfc3339Nano(T_NS + 1n), "2026-05-12T15:30:00.000000001Z");
  assert.equal(formatRfc3339Nano(0n), "1970-01-01T00:00:00Z");
  assert.equal(formatRfc3339Nano(-1n), "1969-12-31T23:59:59.999999999Z");
  assertThrowsCode(
    () => formatRfc3339Nano(BigInt(Date.parse("9999-12-31T23:59:59Z") + 1000) * 1_000_000n),
    "E_INVALID_ARGUMENT",
  );
});

test("newRevision carries sub-millisecond digits and is strictly increasing over 10k calls", () => {
  const revs = Array.from({ length: 10_000 }, () => newRevision());
  // Read now, not after the checks below: under load they take seconds.
  const wall = BigInt(Date.now()) * 1_000_000n;
  let previous = -1n;
  let subMillisecond = 0;
  for (const rev of revs) {
    const parsed = parseRevision(rev);
    assert.ok(parsed, rev);
    assert.equal(parsed.suffix, 0);
    assert.ok(parsed.epochNanos > previous, `${rev} does not follow the previous revision`);
    assert.equal(formatRfc3339Nano(parsed.epochNanos), rev, "canonical form");
    if (parsed.epochNanos % 1_000_000n !== 0n) subMillisecond++;
    previous = parsed.epochNanos;
  }
  assert.ok(subMillisecond > 9_000, `only ${subMillisecond} of 10000 revisions have sub-ms digits`);
  assert.deepEqual(sortRevisions(revs), revs);
  const last = parseRevision(revs.at(-1) as string)?.epochNanos ?? 0n;
  assert.ok(last - wall < 2_000_000_000n && wall - last < 2_000_000_000n, "close to the wall clock");
});

test("a frozen clock gives the same revision; suffixes then make it unique and in order", () => {
  const frozen = () => T_NS + 500_000_000n;
  const base = newRevision(frozen);
  assert.equal(base, "2026-05-12T15:30:00.5Z");
  assert.equal(newRevision(frozen), base);
  const revs = [base, ...Array.from({ length: 4 }, (_, i) => revisionWithSuffix(base, i + 1))];
  assert.deepEqual(
    revs.slice(1),
    [1, 2, 3, 4].map((n) => `${base}_${n}`),
  );
  assert.deepEqual(sortRevisions([...revs].reverse()), revs);
  assert.deepEqual(parseRevision(`${base}_4`), { epochNanos: T_NS + 500_000_000n, suffix: 4 });
  assert.equal(MAX_REVISION_ATTEMPTS, 100);
  assertThrowsCode(() => revisionWithSuffix(base, 0), "E_INVALID_ARGUMENT");
  assertThrowsCode(() => revisionWithSuffix(base, 1.5), "E_INVALID_ARGUMENT");
  assertThrowsCode(() => revisionWithSuffix(`${base}_1`, 2), "E_INVALID_ARGUMENT");
  assertThrowsCode(() => revisionWithSuffix("nope", 1), "E_INVALID_ARGUMENT");
});

test("parseRevision accepts revisions and rejects everything else", () => {
  assert.deepEqual(parseRevision(T), { epochNanos: T_NS, suffix: 0 });
  assert.deepEqual(
    parseRevision("0001-01-01T00:00:00Z")?.epochNanos,
    BigInt(Date.parse("0001-01-01T00:00:00Z")) * 1_000_000n,
  );
  assert.equal(parseRevision("2024-02-29T23:59:59.999999999Z_12")?.suffix, 12);
  for (const bad of [
    "",
    "2026-05-12T15:30:00",
    "2026-05-12T15:30:00+00:00",
    "2026-05-12 15:30:00Z",
    "2026-05-12T15:30:00.Z",
    "2026-05-12T15:30:00.1234567890Z",
    "2026-05-12T15:30:00Z_0",
    "2026-05-12T15:30:00Z_01",
    "2026-05-12T15:30:00Z_",
    "2026-05-12T15:30:60Z",
    "2026-02-29T00:00:00Z",
    "2026-04-31T00:00:00Z",
    "2026-00-10T00:00:00Z",
    "2026-05-12T24:00:00Z",
    "2026-05-12T15:30:00z",
    "2026-05-12T15:30:00Z.json.enc",
  ]) {
    assert.equal(parseRevision(bad), undefined, bad);
    assert.equal(isValidRevision(bad), false, bad);
  }
  assert.equal(isValidRevision(T), true);
});

test("parseRfc3339 accepts offsets and agrees with Date for millisecond times", () => {
  assert.equal(parseRfc3339("2026-05-12T17:30:00+02:00"), T_NS);
  assert.equal(
    parseRfc3339("2026-05-12T15:30:00.123Z"),
    BigInt(Date.parse("2026-05-12T15:30:00.123Z")) * 1_000_000n,
  );
  assert.equal(parseRfc3339("2026-05-12T15:30:00+24:00"), undefined);
});

test("sortRevisions reproduces the golden order from any starting order", () => {
  const shuffled = [GOLDEN[4], GOLDEN[6], GOLDEN[2], GOLDEN[0], GOLDEN[5], GOLDEN[3], GOLDEN[1]] as string[];
  assert.deepEqual(sortRevisions(shuffled), GOLDEN);
  assert.deepEqual(sortRevisions([...GOLDEN].sort()), GOLDEN, "from lexical order");
  assert.deepEqual(sortRevisions([...GOLDEN].reverse()), GOLDEN);
  for (let i = 0; i + 1 < GOLDEN.length; i++)
    assert.ok(
      compareRevisions(GOLDEN[i] as string, GOLDEN[i + 1] as string) < 0,
      `${GOLDEN[i]} < ${GOLDEN[i + 1]}`,
    );
});

test("equal instants written differently tie-break on the raw text; invalid names sort by bytes", () => {
  assert.deepEqual(sortRevisions(["2026-05-12T15:30:00.10Z", "2026-05-12T15:30:00.1Z"]), [
    "2026-05-12T15:30:00.10Z",
    "2026-05-12T15:30:00.1Z",
  ]);
  // U+FF5E is below U+1F600 as code points (and UTF-8 bytes) but above its surrogates as UTF-16 units.
  assert.deepEqual(sortRevisions(["\u{1F600}", "\uFF5E", "Z", "a"]), ["Z", "a", "\uFF5E", "\u{1F600}"]);
});

test("sortRevisions never mutates its input; empty in, empty out", () => {
  const input = Object.freeze([...GOLDEN].reverse());
  const copy = [...input];
  const out = sortRevisions(input);
  assert.deepEqual(input, copy);
  assert.notEqual(out, input);
  assert.deepEqual(sortRevisions([]), []);
});
