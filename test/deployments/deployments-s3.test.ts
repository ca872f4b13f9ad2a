// The deployments conformance suite on a real S3 server (a local Ceph RGW started by
// scripts/run-tests.mjs, or any endpoint set in the environment; see test/support/s3.ts).
// makeS3Store throws when no server is configured, so this file fails rather than skips.
//
// The full mode × layout matrix takes one to two minutes on RGW (every write is a round trip,
// and the chunked layout makes several per change), so S3 runs the whole suite on lazy /
// per-entity and the instance, claim and initialisation tests on lazy / chunked as well. The
// layouts and modes are store-independent code that the memory and file runs cover in full.
import { makeS3Store } from "../support/s3.js";
import { deploymentClaimsConformance, deploymentConformance } from "./conformance.js";

// Every test gets a store under its own random prefix; tests of one combination overlap to
// hide request latency.
deploymentConformance(() => makeS3Store(), {
  combos: [{ mode: "lazy", layout: "per-entity" }],
  concurrency: 8,
});
deploymentClaimsConformance(() => makeS3Store(), {
  combos: [{ mode: "lazy", layout: "chunked" }],
  concurrency: 8,
});
