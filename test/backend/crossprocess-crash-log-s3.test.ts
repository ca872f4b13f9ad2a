// The format-2 crash test on a stack headed by a log, on RGW (see crossprocess-crash-log.test.ts).
import { makeS3Url, randomS3Prefix } from "../support/s3.js";
import { crashFormat2Suite } from "./crash-format2-suite.js";

crashFormat2Suite("RGW, log head", {
  url: () => makeS3Url(randomS3Prefix("crash-log")),
  lanes: 1,
  killsPerLane: 4,
  requireDiedHolding: false,
  killWindowMs: 600,
  head: "log",
});
