import { memoryStore } from "../../src/objectstore/memory.js";
import { recordStoreConformance } from "./conformance.js";

const shared = memoryStore();
recordStoreConformance("memory", () => shared);
