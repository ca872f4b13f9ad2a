import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { fileStore } from "../../src/objectstore/file.js";
import { recordStoreConformance } from "../../src/testing/index.js";

const root = mkdtempSync(join(tmpdir(), "statekeeper-records-"));
after(() => rmSync(root, { recursive: true, force: true }));

const shared = fileStore(root);
recordStoreConformance({ describe, test }, () => shared, { name: "file" });
