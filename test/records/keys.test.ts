import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { hasErrorCode } from "../../src/errors.js";
import { MAX_KEY_BYTES, validateKey } from "../../src/objectstore/kit.js";
import {
  classifyKey,
  escapeResourceId,
  lockKey,
  MAX_RECORDS_PREFIX_BYTES,
  MAX_RESOURCE_ID_BYTES,
  normalizeRecordsPrefix,
  recordKey,
  unescapeResourceId,
} from "../../src/records/keys.js";

// Ids as callers write them: any well-formed unicode without control characters, within the bound.
const validId = fc
  .string({ unit: "grapheme", minLength: 1, maxLength: 80 })
  // biome-ignore lint/suspicious/noControlCharactersInRegex: filtering them out is the point
  .filter((s) => !/[\u0000-\u001f\u007f-\u009f]/.test(s) && Buffer.byteLength(s) <= MAX_RESOURCE_ID_BYTES);
const longestPrefix = `${"p".repeat(MAX_RECORDS_PREFIX_BYTES - 1)}/`;

test("escaping round-trips, is injective, and always yields a valid store key", () => {
  fc.assert(
    fc.property(validId, validId, (a, b) => {
      const ka = recordKey(longestPrefix, a);
      validateKey(ka);
      validateKey(lockKey(longestPrefix, a));
      assert.ok(Buffer.byteLength(ka) < MAX_KEY_BYTES);
      assert.equal(unescapeResourceId(escapeResourceId(a)), a);
      assert.deepEqual(classifyKey(longestPrefix, ka), { kind: "record", id: a });
      if (a !== b) assert.notEqual(ka, recordKey(longestPrefix, b));
    }),
    { numRuns: 500 },
  );
});

test("DigitalOcean's key collisions are gone: a/b, a_b, a%2Fb, a\\b map to distinct keys", () => {
  const keys = ["a/b", "a_b", "a%2Fb", "a\\b", "a%5Cb"].map((id) => recordKey("iac-state/", id));
  assert.equal(new Set(keys).size, keys.length);
  assert.equal(recordKey("iac-state/", "a/b"), "iac-state/a%2Fb.json");
  assert.equal(recordKey("iac-state/", "a%2Fb"), "iac-state/a%252Fb.json");
  assert.equal(recordKey("iac-state/", ".."), "iac-state/%2E%2E.json");
  assert.equal(lockKey("iac-state/", "web-1"), "iac-state/web-1.lock");
});

test("the longest ids are split into file-name-sized segments, never inside an escape", () => {
  for (const id of ["é".repeat(128), "x".repeat(256), `${"a".repeat(119)}%`]) {
    const escaped = escapeResourceId(id);
    for (const segment of escaped.split("/")) {
      assert.ok(segment.length <= 120 && segment.length > 0, segment);
      assert.match(segment, /^(?:[A-Za-z0-9_-]|%[0-9A-F]{2})+$/);
    }
    assert.equal(unescapeResourceId(escaped), id);
  }
});

test("keys that are not canonical escapes are not taken for records", () => {
  for (const name of ["a.b", "a%2fb", "%2", "a%zz", "", "a//b", "a%2F/b"])
    assert.equal(unescapeResourceId(name), undefined, name);
  assert.deepEqual(classifyKey("p/", "p/x.lock"), { kind: "lock" });
  assert.deepEqual(classifyKey("p/", "p/x.txt"), { kind: "foreign" });
  assert.deepEqual(classifyKey("p/", "p/a.b.json"), { kind: "undecodable", name: "a.b" });
});

test("prefixes are normalised and validated", () => {
  assert.equal(normalizeRecordsPrefix("iac-state"), "iac-state/");
  assert.equal(normalizeRecordsPrefix("team/iac-state/"), "team/iac-state/");
  assert.equal(normalizeRecordsPrefix(""), "");
  for (const bad of [
    "../x",
    "/abs",
    "a//b/",
    "a\\b",
    "a/./b",
    "x\u0000",
    "p".repeat(MAX_RECORDS_PREFIX_BYTES + 1),
  ])
    assert.throws(
      () => normalizeRecordsPrefix(bad),
      (e) => hasErrorCode(e, "E_INVALID_NAME"),
      bad,
    );
});
