export type { ConformanceTestApi, ObjectStoreConformanceOptions } from "./objectstore-conformance.js";
export { objectStoreConformance } from "./objectstore-conformance.js";
