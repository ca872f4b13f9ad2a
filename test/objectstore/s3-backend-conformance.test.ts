// The Backend conformance suite (locks, leases, fencing, integrity) on the real S3 server.
// Without a server, makeS3Store() throws and the suite fails: it never skips.
import { describe, test } from "node:test";
import { backendConformance } from "../../src/testing/index.js";
import { makeS3Store } from "../support/s3.js";

// A lease long enough that renewals over HTTP keep up while the whole suite loads both cores.
backendConformance({ describe, test }, () => makeS3Store(), {
  name: "s3 (RGW), pointer head",
  leaseMs: 1500,
  head: "pointer",
});
// Storage format 2 (manifests over chunks): the same contract on the same server.
backendConformance({ describe, test }, () => makeS3Store(), {
  name: "s3 (RGW), format 2, pointer head",
  leaseMs: 1500,
  format: 2,
  head: "pointer",
});
// A stack headed by a log (the default head): the same contract on the same server.
backendConformance({ describe, test }, () => makeS3Store(), {
  name: "s3 (RGW), log head (the default)",
  leaseMs: 1500,
  format: 2,
});
