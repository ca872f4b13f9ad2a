import { describe, test } from "node:test";
import { memoryStore } from "../../src/objectstore/memory.js";
import { deploymentStoreConformance } from "../../src/testing/index.js";

const shared = memoryStore();
deploymentStoreConformance({ describe, test }, () => shared, { name: "memory" });
