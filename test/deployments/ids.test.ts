import assert from "node:assert/strict";
import { test } from "node:test";
import { timeOrderedIdGenerator } from "../../src/deployments/index.js";

test("time-ordered ids stay ordered and unique within one millisecond and when the clock steps back", () => {
  let now = 5_000;
  const next = timeOrderedIdGenerator(() => now);
  const ids: string[] = [];
  for (let i = 0; i < 2000; i++) {
    if (i === 1000) now -= 3;
    ids.push(next());
  }
  assert.deepEqual([...ids].sort(), ids);
  assert.equal(new Set(ids).size, ids.length);
  assert.match(ids[0] as string, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});
