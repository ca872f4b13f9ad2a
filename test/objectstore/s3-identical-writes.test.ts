// Two writers storing byte-identical content must not both "win" a compare-and-swap, even when the
// store answers some of them ambiguously (RGW returns 409/5xx under concurrent conditional
// writes, and the driver then resolves the outcome by reading back).
import assert from "node:assert/strict";
import { test } from "node:test";
import { isStoreError } from "../../src/objectstore/types.js";
import { makeS3Store } from "../support/s3.js";

test("s3: concurrent CAS of identical bytes from one etag has exactly one winner, every round", async () => {
  const store = await makeS3Store();
  const body = new TextEncoder().encode('{"version":2,"status":"deploying"}');
  for (let round = 0; round < 8; round++) {
    const key = `identical/round-${round}`;
    const { etag } = await store.put(key, new TextEncoder().encode('{"version":1}'));
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () => store.put(key, body, { ifMatch: etag })),
    );
    const winners = results.filter((r) => r.status === "fulfilled").length;
    assert.equal(winners, 1, `round ${round}: ${winners} writers believed they won`);
    for (const r of results)
      if (r.status === "rejected")
        assert.ok(isStoreError(r.reason, "PRECONDITION_FAILED", "CONFLICT"), String(r.reason));
  }
});

test("s3: concurrent create-only of identical bytes has exactly one winner, every round", async () => {
  const store = await makeS3Store();
  const body = new TextEncoder().encode("same bytes for everyone");
  for (let round = 0; round < 8; round++) {
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () => store.put(`identical/create-${round}`, body, { ifNoneMatch: "*" })),
    );
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 1, `round ${round}`);
  }
});
