// The Backend conformance suite (locks, leases, fencing, integrity) on the real S3 server.
// Without a server, makeS3Store() throws and the suite fails: it never skips.
import { backendConformance } from "../../src/testing/backend-conformance.js";
import { makeS3Store } from "../support/s3.js";

// A lease long enough that renewals over HTTP keep up while the whole suite loads both cores.
backendConformance({ name: "s3 (RGW)", makeStore: () => makeS3Store(), leaseMs: 1500 });
