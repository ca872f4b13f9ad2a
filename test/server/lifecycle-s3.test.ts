import { makeS3Url } from "../support/s3.js";
import { lifecycleSuite } from "./lifecycle-suite.js";

// Fewer, smaller rounds than on the file store: every restart and verify talks to the RGW.
lifecycleSuite("Ceph RGW", { storeUrl: () => makeS3Url(), crashRounds: 6, crashResources: 4000 });
