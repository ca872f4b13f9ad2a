// The deployments conformance suite on a real S3 server (a local Ceph RGW started by
// scripts/run-tests.mjs, or any endpoint set in the environment; see test/support/s3.ts).
// makeS3Store throws when no server is configured, so this file fails rather than skips.
//
// The full mode × layout matrix takes one to two minutes on RGW (every write is a round trip,
// and the chunked layout makes several per change), so S3 runs the whole suite on lazy /
// per-entity and the instance, claim and initialisation tests on lazy / chunked as well. The
// layouts and modes are store-independent code that the memory and file runs cover in full.
import { describe, test } from "node:test";
import { deploymentStoreConformance } from "../../src/testing/index.js";
import { makeS3Store } from "../support/s3.js";

// Every test gets a store under its own random prefix; the tests of a group overlap to hide
// request latency.
const overlapping = {
  describe: (name: string, fn: () => void) => describe(name, { concurrency: 8 }, fn),
  test,
};
deploymentStoreConformance(overlapping, () => makeS3Store(), {
  name: "s3",
  combos: [{ mode: "lazy", layout: "per-entity" }],
});
deploymentStoreConformance(overlapping, () => makeS3Store(), {
  name: "s3",
  combos: [{ mode: "lazy", layout: "chunked" }],
  scope: "claims",
});
