import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { fileStore } from "../../src/objectstore/file.js";
import { memoryStore } from "../../src/objectstore/memory.js";
import { objectStoreConformance } from "../../src/testing/objectstore-conformance.js";

objectStoreConformance({ name: "memory", makeStore: () => memoryStore() });

const root = mkdtempSync(join(tmpdir(), "statekeeper-conformance-"));
after(() => rmSync(root, { recursive: true, force: true }));

objectStoreConformance({
  name: "file",
  makeStore: () => fileStore(join(root, "store")),
  // The file driver's etag is a content hash (see src/objectstore/file.ts).
  etagChangesOnIdenticalRewrite: false,
});
