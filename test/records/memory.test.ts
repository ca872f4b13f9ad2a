import { describe, test } from "node:test";
import { memoryStore } from "../../src/objectstore/memory.js";
import { recordStoreConformance } from "../../src/testing/index.js";

const shared = memoryStore();
recordStoreConformance({ describe, test }, () => shared, { name: "memory" });
