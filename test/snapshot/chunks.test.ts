// Content-defined chunking (storage format 2): boundaries are decided by the entries, so a
// one-entry change touches at most two chunks, wherever it is.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  chunkText,
  type EncodedEntry,
  endsChunk,
  planChunks,
  sortEntries,
} from "../../src/snapshot/chunks.js";

const TARGET = 2048;
const entry = (address: string, size: number): EncodedEntry => ({
  address,
  text: JSON.stringify({ address, pad: "x".repeat(Math.max(0, size - address.length - 24)) }),
});

/** Sorted entries with unique addresses and sizes around a tenth of the target. */
const entries = fc
  .uniqueArray(fc.tuple(fc.string({ minLength: 1, maxLength: 12 }), fc.integer({ min: 40, max: 600 })), {
    minLength: 0,
    maxLength: 400,
    selector: ([a]) => a,
  })
  .map((pairs) => sortEntries(pairs.map(([a, n]) => entry(a, n))));

/** Chunks of `after` that are not chunks of `before` (by content). */
function newChunks(before: EncodedEntry[][], after: EncodedEntry[][]): number {
  const old = new Set(before.map(chunkText));
  return after.filter((c) => !old.has(chunkText(c))).length;
}

const plan = (es: readonly EncodedEntry[]) => planChunks(es, { targetBytes: TARGET, maxBytes: 1_000_000 });

test("chunks hold every entry once, in order", () => {
  fc.assert(
    fc.property(entries, (es) => {
      const chunks = plan(es);
      assert.deepEqual(chunks.flat(), es);
      assert.ok(chunks.every((c) => c.length > 0));
      // Every chunk but the last ends where an entry says so.
      for (const c of chunks.slice(0, -1)) assert.ok(endsChunk(c.at(-1) as EncodedEntry, TARGET));
    }),
  );
});

test("inserting, removing or resizing one entry anywhere changes at most two chunks", () => {
  fc.assert(
    fc.property(
      entries,
      fc.nat(),
      fc.string({ minLength: 1, maxLength: 12 }),
      fc.integer({ min: 40, max: 600 }),
      fc.constantFrom("insert", "remove", "resize"),
      (es, at, address, size, op) => {
        const before = plan(es);
        let next: EncodedEntry[];
        if (op === "insert") {
          if (es.some((e) => e.address === address)) return;
          next = sortEntries([...es, entry(address, size)]);
        } else {
          if (es.length === 0) return;
          const i = at % es.length;
          next =
            op === "remove"
              ? es.filter((_, j) => j !== i)
              : es.map((e, j) => (j === i ? entry(e.address, size) : e));
        }
        const changed = newChunks(before, plan(next));
        assert.ok(changed <= 2, `${op} changed ${changed} chunks`);
      },
    ),
    { numRuns: 300 },
  );
});

test("chunks come out near the target size on a large state", () => {
  const es = sortEntries(
    Array.from({ length: 15_000 }, (_, i) => entry(`module.app.aws_instance.web[${i}]`, 300)),
  );
  const chunks = planChunks(es);
  const sizes = chunks.map((c) => chunkText(c).length);
  const mean = sizes.reduce((a, b) => a + b, 0) / sizes.length;
  assert.ok(mean > 16 * 1024 && mean < 64 * 1024, `mean chunk ${Math.round(mean)} bytes`);
  assert.ok(Math.max(...sizes) <= 4 * 32 * 1024 + 400, "no chunk beyond the cut");
});

test("a run without a natural boundary is cut at the maximum; one entry larger than it is a chunk alone", () => {
  // Entries whose addresses never end a chunk at this target: cut by size only.
  const quiet = sortEntries(
    Array.from({ length: 200 }, (_, i) => entry(`r${i}`, 100)).filter((e) => !endsChunk(e, 1e12)),
  );
  const cut = planChunks(quiet, { targetBytes: 1e12, maxBytes: 1000 });
  assert.ok(cut.length > 10);
  assert.ok(cut.every((c) => chunkText(c).length <= 1000 + 100));
  const huge = entry("huge", 5000);
  assert.deepEqual(planChunks([huge], { maxBytes: 1000 }), [[huge]]);
});
