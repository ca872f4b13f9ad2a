// The chaos suite on S3 (the Ceph RGW that scripts/run-tests.mjs boots): 4 workers commit under
// the lock while they are killed -9 and SIGSTOPped at random, first talking to the server
// directly, then through the fault proxy, which also drops requests, drops responses after the
// server applied them, and delays requests. Then the history checker and `verify`.
// Short inside `npm test`; `CHAOS_SECONDS=180 npm run chaos` runs it long.
import { after, before, describe, test } from "node:test";
import type { ChaosTarget } from "../fixtures/chaos/stack.js";
import { type FaultProxy, startFaultProxy } from "../support/fault-proxy.js";
import { makeS3Url, randomS3Prefix, s3TestEnv } from "../support/s3.js";
import { assertChaosHeld } from "./assert-chaos.js";
import { CHAOS_WORKER_SETTINGS, chaosSchedule, runChaos } from "./run.js";
import { randomFromNumber } from "./supervisor.js";

const SHORT_SECONDS = 8;
/** The chaos runs on past its duration until at least this many commits were acknowledged. */
const MIN_ACKNOWLEDGED = 15;

/** Per request: 3% never forwarded, 3% applied but unanswered, 20% held up to 250 ms. */
const FAULTS = { dropRequest: 0.03, dropResponse: 0.03, delay: 0.2, delayMs: { minMs: 1, maxMs: 250 } };

function stack(endpoint?: string) {
  const prefix = randomS3Prefix("chaos");
  const direct: ChaosTarget = { kind: "s3", prefix };
  const workers: ChaosTarget = endpoint === undefined ? direct : { kind: "s3", prefix, endpoint };
  return { workerTarget: workers, checkTarget: direct, storeUrl: makeS3Url(prefix) };
}

describe("chaos on S3", () => {
  let proxy: FaultProxy;
  before(async () => {
    proxy = await startFaultProxy({ target: s3TestEnv().endpoint });
  });
  after(() => proxy.close());

  test("directly: kill -9 and SIGSTOP workers mid-commit; no acknowledged commit lost, one line of history, verify clean", async () => {
    const schedule = chaosSchedule(SHORT_SECONDS);
    const report = await runChaos({
      name: "s3",
      ...stack(),
      schedule,
      settings: CHAOS_WORKER_SETTINGS,
      minAcknowledged: MIN_ACKNOWLEDGED,
    });
    assertChaosHeld(report, { acknowledged: MIN_ACKNOWLEDGED });
  });

  test("through the fault proxy (dropped requests, lost responses, delays) as well: the same invariants", async () => {
    const schedule = chaosSchedule(SHORT_SECONDS);
    proxy.reset();
    proxy.randomFaults = { ...FAULTS, random: randomFromNumber(schedule.number ^ 0x5ca1e) };
    const report = await runChaos({
      name: "s3+faults",
      ...stack(proxy.endpoint),
      schedule,
      settings: CHAOS_WORKER_SETTINGS,
      minAcknowledged: MIN_ACKNOWLEDGED,
      proxy,
    });
    proxy.reset();
    assertChaosHeld(report, { acknowledged: MIN_ACKNOWLEDGED, proxyFaults: true });
  });
});
