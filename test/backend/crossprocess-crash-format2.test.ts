import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { crashFormat2Suite } from "./crash-format2-suite.js";

const base = mkdtempSync(join(tmpdir(), "statekeeper-crash2-"));
after(() => rmSync(base, { recursive: true, force: true }));

crashFormat2Suite("file store", {
  url: () => `file://${join(base, "store")}`,
  lanes: 2,
  killsPerLane: 8,
  requireDiedHolding: true,
  killWindowMs: 400,
});
