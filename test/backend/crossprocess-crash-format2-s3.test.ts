import { makeS3Url, randomS3Prefix } from "../support/s3.js";
import { crashFormat2Suite } from "./crash-format2-suite.js";

crashFormat2Suite("RGW", {
  url: () => makeS3Url(randomS3Prefix("crash2")),
  lanes: 1,
  killsPerLane: 6,
  requireDiedHolding: false,
  killWindowMs: 600,
});
