import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fileStore } from "../../src/objectstore/file.js";
import { memoryStore } from "../../src/objectstore/memory.js";
import { backendConformance } from "../../src/testing/index.js";

// Stacks with a current pointer (`head: "pointer"`): every stack created before the log became
// the default, and imports of unobin's stacks.
backendConformance({ describe, test }, () => memoryStore(), {
  name: "memory, pointer head",
  head: "pointer",
});

const root = mkdtempSync(join(tmpdir(), "statekeeper-backend-"));
backendConformance({ describe, test }, () => fileStore(root), {
  name: "file, pointer head",
  head: "pointer",
});

// Storage format 2 (manifests over chunks): the same contract. The lock and lease tests do not
// depend on the format; a longer lease keeps this second run of them from failing on renewals
// that a loaded machine delays (the format-1 runs above keep the short default).
backendConformance({ describe, test }, () => memoryStore(), {
  name: "memory, format 2, pointer head",
  format: 2,
  head: "pointer",
  leaseMs: 1500,
});
backendConformance({ describe, test }, () => fileStore(root), {
  name: "file, format 2, pointer head",
  format: 2,
  head: "pointer",
  leaseMs: 1500,
});

// A stack headed by a log, the default head of new stacks: the same contract, and what a log
// promises instead where the two differ (no revision off the line, digests in the entries, one
// write per commit). On the file store here and on RGW (s3-backend-conformance.test.ts); the
// memory store adds nothing those two do not show, and the suite's time budget is tight.
backendConformance({ describe, test }, () => fileStore(root), {
  name: "file, log head (the default)",
  format: 2,
  leaseMs: 1500,
});
