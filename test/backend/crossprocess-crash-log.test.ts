// The format-2 crash test on stacks headed by a log (`head: "log"`): kill -9 of workers during
// commits (each one create-only log entry), lock takeovers and prunes that remove old commit
// entries and sweep chunks; on the file store (RGW: crossprocess-crash-log-s3.test.ts).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { crashFormat2Suite } from "./crash-format2-suite.js";

const base = mkdtempSync(join(tmpdir(), "statekeeper-crash-log-"));
after(() => rmSync(base, { recursive: true, force: true }));

crashFormat2Suite("file store, log head", {
  url: () => `file://${join(base, "store")}`,
  lanes: 2,
  killsPerLane: 5,
  requireDiedHolding: true,
  killWindowMs: 400,
  head: "log",
});
