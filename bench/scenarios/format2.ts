// Storage format 2 (issue 13): a one-entry change at 100 and 15 000 entries on the file store,
// sealed with a key, lock held: format 1's full commit, format 2's commit(snapshot), and format 2's
// commitChanges, side by side; then commitChanges alone on S3 (RGW) at the same sizes. commitChanges
// runs enough actions to pass several checkpoints, so its bytes and puts per action are amortized
// over them; its most expensive action is reported too. Reported, not asserted.
import { performance } from "node:perf_hooks";
import { createBackend } from "../../src/backend/index.js";
import { keyEncrypter } from "../../src/crypto/index.js";
import { fileStore } from "../../src/objectstore/file.js";
import type { ObjectStore } from "../../src/objectstore/types.js";
import { withTempDir } from "../lib/dirs.js";
import { benchKey, makeEntry, makeSnapshot } from "../lib/fixtures.js";
import { log, mean, percentile, pick, type Row, type ScenarioResult } from "../lib/measure.js";
import { benchS3Store } from "../lib/s3.js";
import type { S3Server } from "../lib/server.js";

type Mode = "format 1 commit" | "format 2 commit" | "format 2 commitChanges";

function counting(inner: ObjectStore) {
  let bytes = 0;
  let puts = 0;
  const store: ObjectStore = {
    ...inner,
    name: inner.name,
    put: (key, body, opts) => {
      bytes += body.byteLength;
      puts++;
      return inner.put(key, body, opts);
    },
  };
  return { store, bytes: () => bytes, puts: () => puts };
}

async function actions(store: ObjectStore, mode: Mode, entries: number, count: number) {
  const counted = counting(store);
  const backend = createBackend(counted.store, {
    factory: "bench",
    stack: "format2",
    encrypter: keyEncrypter({ key: benchKey() }),
    format: mode === "format 1 commit" ? 1 : 2,
  });
  const snapshot = makeSnapshot("format2", entries);
  // A long lease: a 100 MB format-1 commit on a loaded machine can outlast the default 30 s.
  const lock = await backend.lock({ operation: "apply", leaseMs: 600_000 });
  await backend.commit(snapshot);
  const times: number[] = [];
  const puts: number[] = [];
  const bytes: number[] = [];
  for (let a = 0; a < count; a++) {
    const [b0, p0] = [counted.bytes(), counted.puts()];
    // One resource action: one entry changes.
    const i = (a * 7919) % entries;
    const entry = makeEntry(i, a + 1);
    const start = performance.now();
    if (mode === "format 2 commitChanges") await backend.commitChanges({ upsert: [entry] });
    else {
      snapshot.entries[i] = entry;
      await backend.commit(snapshot);
    }
    times.push(performance.now() - start);
    puts.push(counted.puts() - p0);
    bytes.push(counted.bytes() - b0);
  }
  await lock.unlock();
  return {
    ms: mean(times),
    bytes: mean(bytes),
    puts: mean(puts),
    typicalPuts: percentile(puts, 50),
    maxPuts: Math.max(...puts),
    typicalBytes: percentile(bytes, 50),
    maxBytes: Math.max(...bytes),
  };
}

type Result = Awaited<ReturnType<typeof actions>>;

export async function format2Scenario(server: S3Server): Promise<ScenarioResult> {
  const plan: Array<[number, number]> = pick(
    [
      [100, 200],
      [15000, 200],
    ],
    [
      [100, 20],
      [15000, 20],
    ],
  );
  const modes: Mode[] = ["format 2 commitChanges", "format 2 commit", "format 1 commit"];
  const results = new Map<string, Result>();
  for (const [entries, actionsAtFormat2] of plan)
    for (const mode of modes) {
      // Format 1 rewrites 100 MB per action at 15 000 entries: a few actions measure it.
      const count =
        mode === "format 1 commit" && entries > 1000 ? Math.min(6, actionsAtFormat2) : actionsAtFormat2;
      log(`format2: ${mode}, ${entries} entries, ${count} actions`);
      results.set(
        `${mode}@${entries}`,
        await withTempDir("format2", (d) => actions(fileStore(d), mode, entries, count)),
      );
    }
  // The same one-entry commitChanges on RGW (tcp_nodelay gateway), each size under its own prefix.
  for (const [entries, count] of plan) {
    log(`format2: format 2 commitChanges on S3 (RGW), ${entries} entries, ${count} actions`);
    const store = benchS3Store(server, "nodelay", `format2-${entries}`);
    results.set(`s3@${entries}`, await actions(store, "format 2 commitChanges", entries, count));
  }
  const rows: Row[] = [];
  const at = (mode: Mode, n: number) => results.get(`${mode}@${n}`) as Result;
  for (const [entries] of plan) {
    const [changes, commit2, commit1] = modes.map((m) => at(m, entries)) as [
      ReturnType<typeof at>,
      ReturnType<typeof at>,
      ReturnType<typeof at>,
    ];
    rows.push(
      {
        metric: `ms per one-entry action, ${entries} entries`,
        unit: "ms",
        better: "lower",
        statekeeper: { name: "format 2 commitChanges (key, file)", value: changes.ms },
        baselines: [
          { name: "format 2 commit(snapshot)", value: commit2.ms },
          { name: "format 1 commit(snapshot)", value: commit1.ms },
        ],
      },
      {
        metric: `bytes written per one-entry action, ${entries} entries`,
        unit: "bytes",
        better: "lower",
        statekeeper: { name: "format 2 commitChanges (key, file)", value: changes.bytes },
        baselines: [
          { name: "format 2 commit(snapshot)", value: commit2.bytes },
          { name: "format 1 commit(snapshot)", value: commit1.bytes },
        ],
        extra: {
          "commitChanges: puts per action, mean (incl. checkpoints) / median / max": `${changes.puts.toFixed(2)} / ${changes.typicalPuts} / ${changes.maxPuts}`,
          "commitChanges: bytes per action, median / max": `${changes.typicalBytes} / ${changes.maxBytes}`,
          "format 2 commit: puts per action, mean / median / max": `${commit2.puts.toFixed(2)} / ${commit2.typicalPuts} / ${commit2.maxPuts}`,
        },
      },
    );
  }
  const [small, large] = [plan[0]?.[0] ?? 100, plan.at(-1)?.[0] ?? 15000];
  const ratio = (m: Mode) => at(m, large).ms / at(m, small).ms;
  const s3 = (n: number) => results.get(`s3@${n}`) as Result;
  // Issue 13's first target, on both stores: the ratio column is ms at `large` ÷ ms at `small`.
  for (const [where, atLarge, atSmall] of [
    ["file", at("format 2 commitChanges", large), at("format 2 commitChanges", small)],
    ["S3 (RGW)", s3(large), s3(small)],
  ] as const)
    rows.push({
      metric: `ms per one-entry commitChanges, ${large} entries against ${small} (${where})`,
      unit: "ms",
      better: "lower",
      statekeeper: { name: `commitChanges at ${large} entries (key, ${where})`, value: atLarge.ms },
      baselines: [{ name: `commitChanges at ${small} entries (key, ${where})`, value: atSmall.ms }],
      extra: {
        [`bytes per action at ${large}, mean / median / max`]: `${Math.round(atLarge.bytes)} / ${atLarge.typicalBytes} / ${atLarge.maxBytes}`,
        [`puts per action at ${large}, mean / median / max`]: `${atLarge.puts.toFixed(2)} / ${atLarge.typicalPuts} / ${atLarge.maxPuts}`,
      },
    });
  return {
    id: "10-format2",
    title: "Storage format 2: a one-entry change as state grows (file store and S3, key, lock held)",
    rows,
    notes: [
      `ms at ${large} ÷ ms at ${small}: commitChanges ${ratio("format 2 commitChanges").toFixed(1)}× (file), ` +
        `${(s3(large).ms / s3(small).ms).toFixed(1)}× (S3), ` +
        `format 2 commit ${ratio("format 2 commit").toFixed(1)}×, format 1 commit ${ratio("format 1 commit").toFixed(1)}×`,
    ],
  };
}
