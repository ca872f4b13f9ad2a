// The package root: the public API described in docs/ and README.md.
export * from "./backend/index.js";
export * from "./crypto/index.js";
export * from "./deployments/index.js";
export * from "./errors.js";
export * from "./objectstore/index.js";
export * from "./records/index.js";
export * from "./snapshot/index.js";
