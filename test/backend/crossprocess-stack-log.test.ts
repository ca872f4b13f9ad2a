import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileStore } from "../../src/objectstore/index.js";
import { crossProcessLogRace } from "./crossprocess-stack-log-suite.js";

const base = mkdtempSync(join(tmpdir(), "statekeeper-xproc-log-"));
after(() => rmSync(base, { recursive: true, force: true }));

test("stack log, file store: 3 processes × 20 rounds, 4 holders killed with kill -9 while holding", async (t) => {
  const found = await crossProcessLogRace({
    kind: "file",
    where: base,
    store: fileStore(join(base, "store")),
    workers: 3,
    rounds: 20,
    kills: 4,
    leaseMs: 400,
  });
  t.diagnostic(`${found.commits} commits, ${found.takeovers} takeovers`);
});
