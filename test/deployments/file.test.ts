import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { fileStore } from "../../src/objectstore/file.js";
import { ALL_COMBOS, BLUELINK_COMBOS } from "../../src/testing/deployments-fixtures.js";
import { deploymentStoreConformance } from "../../src/testing/index.js";

const root = mkdtempSync(join(tmpdir(), "statekeeper-deployments-"));
after(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
// A folder per test keeps every listing small (each test also uses its own prefix), so the
// tests of a group may overlap.
deploymentStoreConformance(
  { describe: (name, fn) => describe(name, { concurrency: 8 }, fn), test },
  () => fileStore(join(root, String(++n))),
  // Bluelink's layout in lazy mode, as its object-store container runs; eager is covered in memory.
  { name: "file", combos: [...ALL_COMBOS, ...BLUELINK_COMBOS.filter((c) => c.mode === "lazy")] },
);
