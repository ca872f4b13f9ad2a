// Processes racing for a stack log's lock, some killed with kill -9 while they hold it: the log
// must stay gapless, every acknowledged commit must be in it, and the committed counters must run
// 1, 2, 3… with no lost update and no duplicate — the fence at work, with create-only writes alone.
import assert from "node:assert/strict";
import { StackLog } from "../../src/backend/stack-log.js";
import type { ObjectStore } from "../../src/objectstore/index.js";
import { kill9, startWorker, type Worker } from "../fixtures/backend/spawn.js";

export interface CrossProcessLogOptions {
  /** `file` or `s3`, and the root folder or S3 prefix the workers open. */
  kind: "file" | "s3";
  where: string;
  store: ObjectStore;
  workers: number;
  rounds: number;
  kills: number;
  leaseMs: number;
}

export async function crossProcessLogRace(
  o: CrossProcessLogOptions,
): Promise<{ commits: number; takeovers: number }> {
  const acked = new Map<number, number>();
  /** Workers that found their own lease lapsed (a stalled machine): taking them over was legitimate too. */
  const lapsed = new Set<number>();
  const holding = new Map<Worker, () => void>();
  const spawnOne = (): Worker => {
    const w = startWorker("log-worker.ts", [o.kind, o.where, String(o.rounds), String(o.leaseMs)]);
    w.child.stdout?.on("data", (d: Buffer) => {
      for (const line of d.toString().split("\n")) {
        const m = /^acked (\d+) (\d+)$/.exec(line);
        if (m !== null) {
          assert.ok(!acked.has(Number(m[1])), `counter ${m[1]} acknowledged twice`);
          acked.set(Number(m[1]), Number(m[2]));
        }
        if (line.startsWith("fenced ")) lapsed.add(Number(line.split(" ")[1]));
        if (line.startsWith("holding ")) holding.get(w)?.();
      }
    });
    return w;
  };
  const nextHolding = (w: Worker) =>
    Promise.race([
      new Promise<boolean>((resolve) => holding.set(w, () => resolve(true))),
      w.exited.then(() => false),
    ]);
  const running = Array.from({ length: o.workers }, spawnOne);
  const killedPids = new Set<number>();
  // Kill a holder as soon as it announces a fresh lock, again and again; a new worker replaces it.
  for (let k = 0; killedPids.size < o.kills && k < 10 * o.kills; k++) {
    const slot = k % running.length;
    const victim = running[slot] as Worker;
    if (!(await nextHolding(victim))) continue;
    await kill9(victim);
    killedPids.add(victim.pid);
    running[slot] = spawnOne();
  }
  assert.equal(killedPids.size, o.kills, "every planned kill landed on a live worker");
  for (const w of running) {
    const exit = await w.exited;
    assert.equal(exit.code, 0, `worker ${w.pid} ended ${exit.code ?? exit.signal}: ${w.stderr()}`);
  }

  const log = new StackLog(o.store, "f/s/log/", "f/s/head", { subject: "stack f/s" });
  const head = await log.headSeq();
  const counters: number[] = [];
  let takeovers = 0;
  let previous: Awaited<ReturnType<StackLog["read"]>>;
  for (let seq = 1; seq <= head; seq++) {
    const e = await log.read(seq);
    assert.ok(e !== undefined, `entry ${seq} exists: no gap below the head ${head}`);
    if (e.entry.kind === "commit") {
      counters.push(Number(new TextDecoder().decode(e.payload)));
      const ackedAt = acked.get(counters.at(-1) as number);
      if (ackedAt !== undefined)
        assert.equal(ackedAt, seq, `counter ${counters.at(-1)} acknowledged at entry ${ackedAt}`);
    }
    const before = previous?.entry.lock;
    if (e.entry.kind === "lock" && before !== null && before !== undefined) {
      takeovers++;
      assert.ok(
        killedPids.has(before.pid) || lapsed.has(before.pid),
        `entry ${seq} took over from pid ${before.pid}, which was neither killed nor found its own lease lapsed`,
      );
    }
    previous = e;
  }
  assert.deepEqual(
    counters,
    counters.map((_, i) => i + 1),
    "the committed counters run 1, 2, 3…: no lost update, no duplicate",
  );
  for (const [counter] of acked)
    assert.ok(counter <= counters.length, `acknowledged counter ${counter} is in the log`);
  assert.ok(
    acked.size >= o.workers * o.rounds,
    `the survivors' ${o.workers * o.rounds} rounds were all acknowledged (${acked.size})`,
  );
  assert.ok(
    takeovers >= o.kills,
    `every holder killed while holding was taken over (${takeovers} takeovers, ${o.kills} kills)`,
  );
  assert.equal((await log.head()).entry.lock, null, "the lock is free at the end");
  return { commits: counters.length, takeovers };
}
