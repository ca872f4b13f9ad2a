// What every chaos configuration must show: no acknowledged commit lost or duplicated, no
// violation of the history invariants, `verify` clean — and that the chaos really happened.
import assert from "node:assert/strict";
import { type ChaosReport, formatEvidence } from "./run.js";

export interface ChaosMinimums {
  /** Acknowledged commits at least this many (scaled by the caller to the run's length). */
  acknowledged: number;
  /** Through the fault proxy: each kind of fault was injected at least once. */
  proxyFaults?: boolean;
}

export function assertChaosHeld(r: ChaosReport, min: ChaosMinimums): void {
  const evidence = () => formatEvidence(r);
  assert.deepEqual(r.history.lost, [], `acknowledged commits lost\n${evidence()}`);
  assert.deepEqual(r.history.duplicated, [], `entries duplicated\n${evidence()}`);
  assert.deepEqual(r.history.violations, [], `history invariants violated\n${evidence()}`);
  assert.deepEqual(r.supervisor.violations, [], `workers saw errors that must never happen\n${evidence()}`);
  assert.equal(r.verify.code, 0, `statekeeper verify failed\n${evidence()}`);
  assert.equal(r.verify.json?.ok, true);
  assert.ok(r.supervisor.kills > 0, "no worker was killed: the run proves nothing");
  assert.ok(r.supervisor.pauses > 0, "no worker was paused: the run proves nothing");
  assert.ok(
    r.history.acknowledged >= min.acknowledged,
    `only ${r.history.acknowledged} commits acknowledged (want >= ${min.acknowledged})`,
  );
  if (min.proxyFaults) {
    assert.ok((r.proxy?.droppedRequests ?? 0) > 0, "the proxy dropped no request");
    assert.ok((r.proxy?.droppedResponses ?? 0) > 0, "the proxy dropped no response");
  }
}
