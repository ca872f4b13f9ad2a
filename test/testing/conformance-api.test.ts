import assert from "node:assert/strict";
import { test } from "node:test";
import { memoryStore } from "../../src/objectstore/memory.js";
import {
  backendConformance,
  type ConformanceTest,
  deploymentStoreConformance,
  objectStoreConformance,
  recordStoreConformance,
} from "../../src/testing/index.js";

/** A runner with `test` only, that records the names it is given instead of running them. */
function namesOnly(): { runner: ConformanceTest; names: string[] } {
  const names: string[] = [];
  return { runner: { test: (name) => names.push(name) }, names };
}

test("without describe, every suite registers its tests with group names as prefixes", () => {
  const suites = [
    [objectStoreConformance, "ObjectStore conformance: x › "],
    [backendConformance, "Backend conformance: x › "],
    [recordStoreConformance, "RecordStore conformance: x › "],
    [deploymentStoreConformance, "DeploymentStore conformance: x › "],
  ] as const;
  for (const [suite, prefix] of suites) {
    const { runner, names } = namesOnly();
    suite(runner, () => memoryStore(), { name: "x" });
    assert.ok(names.length > 5, prefix);
    for (const name of names) assert.ok(name.startsWith(prefix), name);
    assert.equal(new Set(names).size, names.length, `${prefix}names are distinct`);
  }
});

test("nested groups nest their prefixes, and describe is used when given", () => {
  const { runner, names } = namesOnly();
  deploymentStoreConformance(runner, () => memoryStore(), {
    combos: [{ mode: "eager", layout: "chunked" }],
    scope: "claims",
  });
  assert.ok(
    names.every((n) =>
      n.startsWith("DeploymentStore conformance › eager / chunked: instances and claims › "),
    ),
  );
  const groups: string[] = [];
  const tests: string[] = [];
  recordStoreConformance(
    {
      describe: (name, fn) => {
        groups.push(name);
        fn();
      },
      test: (name) => tests.push(name),
    },
    () => memoryStore(),
  );
  assert.deepEqual(groups, ["RecordStore conformance"]);
  assert.ok(tests.length > 5 && tests.every((n) => !n.includes(" › ")));
});
