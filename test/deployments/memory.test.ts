import { memoryStore } from "../../src/objectstore/memory.js";
import { deploymentConformance } from "./conformance.js";

const shared = memoryStore();
deploymentConformance(() => shared);
