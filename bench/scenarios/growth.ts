import { randomBytes } from "node:crypto";
import { open, rename } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createBackend } from "../../src/backend/index.js";
import { keyEncrypter } from "../../src/crypto/index.js";
import { fileStore } from "../../src/objectstore/file.js";
import type { ObjectStore } from "../../src/objectstore/types.js";
import { createRecordStore } from "../../src/records/index.js";
import { withTempDir } from "../lib/dirs.js";
import { benchKey, makeEntry, makeSnapshot } from "../lib/fixtures.js";
import { log, mean, pick, type Row, type ScenarioResult } from "../lib/measure.js";

/** Counts the bytes every put sends, whatever the key. */
function countingBytes(inner: ObjectStore): { store: ObjectStore; written: () => number } {
  let written = 0;
  return {
    store: {
      ...inner,
      name: inner.name,
      put: (key, body, opts) => {
        written += body.byteLength;
        return inner.put(key, body, opts);
      },
    },
    written: () => written,
  };
}

async function statekeeperActions(dir: string, entries: number, actions: number) {
  const counted = countingBytes(fileStore(dir));
  const backend = createBackend(counted.store, {
    factory: "bench",
    stack: "growth",
    encrypter: keyEncrypter({ key: benchKey() }),
  });
  const snapshot = makeSnapshot("growth", entries);
  const lock = await backend.lock({ operation: "apply" });
  await backend.commit(snapshot);
  const before = counted.written();
  const times: number[] = [];
  for (let a = 0; a < actions; a++) {
    // One resource action: one entry changes, then the engine commits the whole state.
    snapshot.entries[a % entries] = makeEntry(a % entries, a + 1);
    const start = performance.now();
    await backend.commit(snapshot);
    times.push(performance.now() - start);
  }
  await lock.unlock();
  return { ms: mean(times), bytes: (counted.written() - before) / actions };
}

/** The single-file floor: the whole state as JSON, AES-free, write + fsync + rename per action. */
async function floorActions(dir: string, entries: number, actions: number) {
  const snapshot = makeSnapshot("growth", entries);
  const path = join(dir, "state.json");
  let bytes = 0;
  const times: number[] = [];
  for (let a = 0; a < actions; a++) {
    snapshot.entries[a % entries] = makeEntry(a % entries, a + 1);
    const start = performance.now();
    const body = Buffer.from(JSON.stringify(snapshot));
    const temp = `${path}.${randomBytes(4).toString("hex")}.tmp`;
    const fh = await open(temp, "w");
    await fh.write(body);
    await fh.sync();
    await fh.close();
    await rename(temp, path);
    times.push(performance.now() - start);
    bytes += body.byteLength;
  }
  return { ms: mean(times), bytes: bytes / actions };
}

/** statekeeper's records layer: one object per resource, so an action rewrites only its own record. */
async function recordActions(dir: string, entries: number, actions: number) {
  const counted = countingBytes(fileStore(dir));
  const records = createRecordStore(counted.store, { encrypter: keyEncrypter({ key: benchKey() }) });
  await records.save({ resource_id: "warmup", status: "active" });
  const before = counted.written();
  const times: number[] = [];
  for (let a = 0; a < actions; a++) {
    const e = makeEntry(a % entries, a + 1);
    const start = performance.now();
    await records.save({
      resource_id: `web-${a % entries}`,
      resource_type: "aws:ec2/instance:Instance",
      provider: "aws",
      status: "active",
      config: e.inputs ?? {},
      outputs: e.outputs ?? {},
    });
    times.push(performance.now() - start);
  }
  return { ms: mean(times), bytes: (counted.written() - before) / actions };
}

export async function growthScenario(): Promise<ScenarioResult> {
  const plan: Array<[number, number]> = pick(
    [
      [100, 40],
      [1000, 20],
      [15000, 4],
    ],
    [
      [100, 5],
      [1000, 3],
      [15000, 1],
    ],
  );
  const rows: Row[] = [];
  for (const [entries, actions] of plan) {
    log(`3 growth: ${entries} entries, ${actions} actions`);
    const sk = await withTempDir("growth-sk", (d) => statekeeperActions(d, entries, actions));
    const floor = await withTempDir("growth-floor", (d) => floorActions(d, entries, actions));
    const rec = await withTempDir("growth-rec", (d) => recordActions(d, entries, actions));
    const floorName = "floor: whole state JSON + write/fsync/rename";
    const recName = "per-resource records (statekeeper records layer, sealed)";
    rows.push(
      {
        metric: `ms per action, ${entries} entries (${actions} actions)`,
        unit: "ms",
        better: "lower",
        statekeeper: { name: "statekeeper snapshot commit (key, file)", value: sk.ms },
        baselines: [
          { name: floorName, value: floor.ms },
          { name: recName, value: rec.ms },
        ],
      },
      {
        metric: `bytes written per action, ${entries} entries`,
        unit: "bytes",
        better: "lower",
        statekeeper: { name: "statekeeper snapshot commit (key, file)", value: sk.bytes },
        baselines: [
          { name: floorName, value: floor.bytes },
          { name: recName, value: rec.bytes },
        ],
      },
    );
  }
  return {
    id: "3-growth",
    title: "Per-resource-action cost as state grows (commit after every action; lock held for the run)",
    rows,
  };
}
