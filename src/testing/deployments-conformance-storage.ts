import assert from "node:assert/strict";
import type { DeploymentEvent } from "../deployments/index.js";
import type { ConformanceTest, MakeStore } from "./conformance-api.js";
import { type Combo, code, collect, openFresh, readJson } from "./deployments-fixtures.js";

const changeset = (i: number, padding = 200) => ({
  id: `cs-${String(i).padStart(3, "0")}`,
  instanceId: "i",
  destroy: false,
  status: "x".repeat(padding),
  blueprintLocation: "b.yaml",
  created: i,
});

/** Chunks, event partitions and streams (§5.15). */
export function storageConformance(t: Required<ConformanceTest>, makeStore: MakeStore, combo: Combo): void {
  if (combo.layout === "chunked")
    t.test(
      "chunks roll over at the guide size, never split a record, and removals keep the index consistent",
      async () => {
        const maxChunkBytes = 1000;
        const { ds, raw, prefix, reopen } = await openFresh(makeStore, combo, { maxChunkBytes });
        for (let i = 0; i < 12; i++) await ds.changesets.save(changeset(i));
        const chunks: { id: string }[][] = [];
        for (let n = 0; ; n++) {
          const chunk = (await readJson(raw, `${prefix}/changesets_c${n}.json`)) as
            | { id: string }[]
            | undefined;
          if (chunk === undefined) break;
          chunks.push(chunk);
        }
        assert.ok(chunks.length >= 3, `expected several chunks, got ${chunks.length}`);
        for (const chunk of chunks)
          assert.ok(
            JSON.stringify(chunk).length <= maxChunkBytes || chunk.length === 1,
            "a chunk stays under the guide",
          );
        assert.deepEqual(
          chunks.flat().map((r) => r.id),
          Array.from({ length: 12 }, (_, i) => changeset(i).id),
        );
        const checkIndex = async () => {
          const index = (await readJson(raw, `${prefix}/changesets_index.json`)) as Record<
            string,
            { chunkNumber: number; indexInChunk: number }
          >;
          for (const [id, loc] of Object.entries(index)) {
            const chunk = (await readJson(raw, `${prefix}/changesets_c${loc.chunkNumber}.json`)) as {
              id: string;
            }[];
            assert.equal(chunk[loc.indexInChunk]?.id, id, `index entry of ${id}`);
          }
          return index;
        };
        const before = await checkIndex();
        const victim = chunks[0]?.[0]?.id as string;
        const follower = chunks[0]?.[1]?.id as string;
        await ds.changesets.remove(victim);
        const after = await checkIndex();
        assert.equal(after[victim], undefined);
        assert.equal(
          after[follower]?.indexInChunk,
          (before[follower]?.indexInChunk ?? 0) - 1,
          "later positions shift",
        );
        const other = await reopen();
        for (let i = 0; i < 12; i++) {
          const id = changeset(i).id;
          assert.equal((await other.changesets.get(id))?.id, id === victim ? undefined : id);
        }
        // A record larger than the guide gets a chunk of its own.
        await ds.changesets.save(changeset(99, 3000));
        assert.equal((await (await reopen()).changesets.get("cs-099"))?.status.length, 3000);
      },
    );
  else
    t.test("per-entity layout: one object per record", async () => {
      const { ds, raw, prefix } = await openFresh(makeStore, combo);
      await ds.changesets.save(changeset(1));
      assert.equal(
        ((await readJson(raw, `${prefix}/changesets/cs-001.json`)) as { id: string }).id,
        "cs-001",
      );
    });

  t.test("events: saved with time-ordered ids, listed in id order, found by id", async () => {
    const { ds, reopen } = await openFresh(makeStore, combo);
    const saved: DeploymentEvent[] = [];
    for (let i = 0; i < 5; i++)
      saved.push(
        await ds.events.save({
          type: "resourceUpdate",
          channelType: "deployment",
          channelId: "i_1",
          data: `${i}`,
        }),
      );
    const ids = saved.map((e) => e.id);
    assert.deepEqual([...ids].sort(), ids);
    assert.equal(new Set(ids).size, 5);
    const other = await reopen();
    assert.deepEqual(
      (await other.events.list("deployment", "i_1")).map((e) => e.data),
      ["0", "1", "2", "3", "4"],
    );
    assert.equal((await other.events.get(ids[2] as string))?.data, "2");
    assert.equal(
      (await other.events.get(ids[3] as string, { channelType: "deployment", channelId: "i_1" }))?.data,
      "3",
    );
    assert.equal(await other.events.get("no-such-event"), undefined);
    // `deployment` + `i_1` and `deployment_i` + `1` are different channels; Bluelink names both
    // partitions `events__deployment_i_1.json`, so there the second is refused, nothing written.
    const colliding = { type: "t", channelType: "deployment_i", channelId: "1", data: "x" };
    if (combo.layout === "bluelink") {
      await assert.rejects(
        ds.events.save(colliding),
        code("E_ALREADY_EXISTS", (e) => assert.equal(e.details.reason, "bluelink_partition_collision")),
      );
      assert.deepEqual(await other.events.list("deployment_i", "1"), []);
    } else {
      await ds.events.save(colliding);
      assert.equal((await other.events.list("deployment_i", "1")).length, 1);
    }
    assert.equal((await other.events.list("deployment", "i_1")).length, 5);
  });

  t.test("events: stream from an id (inclusive), then live events, ending at the end marker", async () => {
    const { ds, reopen } = await openFresh(makeStore, combo);
    const ch = { channelType: "changeset", channelId: "cs1" };
    const first = [];
    for (let i = 0; i < 4; i++) first.push(await ds.events.save({ ...ch, type: "t", data: `${i}` }));
    const reader = await reopen();
    const streamed = collect(
      reader.events.stream({ ...ch, startingEventId: first[2]?.id as string, pollIntervalMs: 10 }),
    );
    await ds.events.save({ ...ch, type: "t", data: "4" });
    await ds.events.save({ ...ch, type: "t", data: "5", end: true });
    await ds.events.save({ ...ch, type: "t", data: "after-end" });
    assert.deepEqual(
      (await streamed).map((e) => e.data),
      ["2", "3", "4", "5"],
    );
  });

  t.test("events: without a starting id the stream begins with the recent events only", async () => {
    let now = 1_000_000_000_000;
    const { ds } = await openFresh(makeStore, combo, { clock: () => new Date(now), recentEventsSeconds: 60 });
    const ch = { channelType: "deployment", channelId: "d" };
    await ds.events.save({ ...ch, type: "t", data: "old" });
    now += 120_000;
    await ds.events.save({ ...ch, type: "t", data: "recent" });
    await ds.events.save({ ...ch, type: "t", data: "done", end: true });
    assert.deepEqual(
      (await collect(ds.events.stream({ ...ch, pollIntervalMs: 10 }))).map((e) => e.data),
      ["recent", "done"],
    );
  });

  t.test("events: a stream ends quietly when aborted", async () => {
    const { ds } = await openFresh(makeStore, combo);
    const controller = new AbortController();
    const ch = { channelType: "x", channelId: "y" };
    const received: string[] = [];
    const streaming = (async () => {
      for await (const event of ds.events.stream({ ...ch, signal: controller.signal, pollIntervalMs: 5 })) {
        received.push(event.data);
        controller.abort();
      }
    })();
    await ds.events.save({ ...ch, type: "t", data: "live" });
    await streaming;
    assert.deepEqual(received, ["live"]);
  });

  t.test("events: the partition size cap is enforced and nothing is lost on refusal", async () => {
    const { ds, reopen } = await openFresh(makeStore, combo, { maxEventPartitionBytes: 2000 });
    const ch = { channelType: "deployment", channelId: "big" };
    let stored = 0;
    let refused: unknown;
    for (let i = 0; i < 50 && refused === undefined; i++) {
      try {
        await ds.events.save({ ...ch, type: "t", data: "y".repeat(100) });
        stored++;
      } catch (e) {
        refused = e;
      }
    }
    assert.ok(stored > 0);
    await assert.rejects(
      Promise.reject(refused),
      code("E_TOO_LARGE", (e) => assert.equal(e.details.reason, "max_event_partition_size_exceeded")),
    );
    assert.equal((await (await reopen()).events.list(ch.channelType, ch.channelId)).length, stored);
  });

  t.test("events: cleanup removes events before the threshold from every channel", async () => {
    let now = 2_000_000_000_000;
    const { ds, reopen } = await openFresh(makeStore, combo, { clock: () => new Date(now) });
    await ds.events.save({ channelType: "a", channelId: "1", type: "t", data: "old" });
    await ds.events.save({ channelType: "b", channelId: "2", type: "t", data: "old" });
    now += 10_000;
    await ds.events.save({ channelType: "a", channelId: "1", type: "t", data: "new" });
    assert.equal(await ds.events.cleanup(new Date(now - 5_000)), 2);
    const other = await reopen();
    assert.deepEqual(
      (await other.events.list("a", "1")).map((e) => e.data),
      ["new"],
    );
    assert.deepEqual(await other.events.list("b", "2"), []);
  });
}
