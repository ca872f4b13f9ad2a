import { describe, test } from "node:test";
import { memoryStore } from "../../src/objectstore/memory.js";
import { ALL_COMBOS, BLUELINK_COMBOS } from "../../src/testing/deployments-fixtures.js";
import { deploymentStoreConformance } from "../../src/testing/index.js";

const shared = memoryStore();
deploymentStoreConformance({ describe, test }, () => shared, {
  name: "memory",
  combos: [...ALL_COMBOS, ...BLUELINK_COMBOS],
});
