import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { fileStore } from "../../src/objectstore/file.js";
import { deploymentConformance } from "./conformance.js";

const root = mkdtempSync(join(tmpdir(), "statekeeper-deployments-"));
after(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
// A folder per test keeps every listing small (each test also uses its own prefix).
deploymentConformance(() => fileStore(join(root, String(++n))), { concurrency: 8 });
