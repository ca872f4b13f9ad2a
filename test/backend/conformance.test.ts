import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileStore } from "../../src/objectstore/file.js";
import { memoryStore } from "../../src/objectstore/memory.js";
import { backendConformance } from "../../src/testing/backend-conformance.js";

backendConformance({ name: "memory", makeStore: () => memoryStore() });

const root = mkdtempSync(join(tmpdir(), "statekeeper-backend-"));
backendConformance({ name: "file", makeStore: () => fileStore(root) });
