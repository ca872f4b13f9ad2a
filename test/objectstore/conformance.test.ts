import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { fileStore } from "../../src/objectstore/file.js";
import { memoryStore } from "../../src/objectstore/memory.js";
import { objectStoreConformance } from "../../src/testing/index.js";

objectStoreConformance({ describe, test }, () => memoryStore(), { name: "memory" });

const root = mkdtempSync(join(tmpdir(), "statekeeper-conformance-"));
after(() => rmSync(root, { recursive: true, force: true }));

// The file driver's etag is the version's inode, size and store-set mtime (src/objectstore/file/version.ts):
// it changes on every write, identical bytes included.
objectStoreConformance({ describe, test }, () => fileStore(join(root, "store")), { name: "file" });
