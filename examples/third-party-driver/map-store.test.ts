// statekeeper's four conformance suites on the Map driver, with node:test:
//   node --import tsx --test examples/third-party-driver/map-store.test.ts
import { describe, test } from "node:test";
import {
  backendConformance,
  deploymentStoreConformance,
  objectStoreConformance,
  recordStoreConformance,
} from "statekeeper/testing";
import { mapStore } from "./map-store.js";

const runner = { describe, test };
const makeStore = () => mapStore(); // a fresh store per test; returning one shared store works too

objectStoreConformance(runner, makeStore, { name: "map" });
backendConformance(runner, makeStore, { name: "map" });
recordStoreConformance(runner, makeStore, { name: "map" });
deploymentStoreConformance(runner, makeStore, { name: "map" });
