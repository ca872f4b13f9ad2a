// The format-2 crash test on a stack headed by a log, on RGW (see crossprocess-crash-log.test.ts).
import { makeS3Url, randomS3Prefix } from "../support/s3.js";
import { crashFormat2Suite } from "./crash-format2-suite.js";

crashFormat2Suite("RGW, log head", {
  url: () => makeS3Url(randomS3Prefix("crash-log")),
  lanes: 1,
  // At least 5: every fourth worker first completes a cycle, so with 5 the lane is sure to commit
  // on top of its first state (the suite requires it) however slow the machine.
  killsPerLane: 5,
  requireDiedHolding: false,
  killWindowMs: 600,
  head: "log",
});
