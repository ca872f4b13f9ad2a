import { test } from "node:test";
import { makeS3Store, randomS3Prefix } from "../support/s3.js";
import { crossProcessLogRace } from "./crossprocess-stack-log-suite.js";

test("stack log, RGW: 3 processes × 12 rounds, 3 holders killed with kill -9 while holding", async (t) => {
  const prefix = randomS3Prefix("xproc-log");
  const found = await crossProcessLogRace({
    kind: "s3",
    where: prefix,
    store: await makeS3Store({ prefix }),
    workers: 3,
    rounds: 12,
    kills: 3,
    leaseMs: 600,
  });
  t.diagnostic(`${found.commits} commits, ${found.takeovers} takeovers`);
});
