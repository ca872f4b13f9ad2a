// The one shape every conformance suite has: `xConformance(test, makeStore, options?)`.
import type { ObjectStore } from "../objectstore/types.js";

/**
 * The test-runner functions a conformance suite registers its tests with. The suites never import
 * a runner: node:test's `{ describe, test }` fit as they are (`import * as nodeTest from
 * "node:test"` does too), and so do other runners' functions of the same shape.
 *
 * Runner settings stay with the caller: to let a group's tests overlap on a slow store, pass
 * `describe: (name, fn) => describe(name, { concurrency: 8 }, fn)` (every test has its own
 * random prefix, so they may).
 */
export interface ConformanceTest {
  /** Registers one test; it fails when `fn` rejects. */
  test(name: string, fn: () => Promise<void>): unknown;
  /**
   * Groups the tests `fn` registers, synchronously. Optional: without it, group names are
   * prefixed to the test names ("ObjectStore conformance: mine › put then get …").
   */
  describe?(name: string, fn: () => void): unknown;
}

/**
 * Gives every suite its store: called once at the start of every test. It may return the same
 * store every time or a fresh one; every test works under its own random prefix, so nothing is
 * ever wiped.
 */
export type MakeStore = () => ObjectStore | Promise<ObjectStore>;

/** The options every suite takes. */
export interface ConformanceOptions {
  /** Names the run in the suite's title ("file", "s3 on RGW", …). */
  name?: string;
}

/** The suite's title: `base`, or `base: name`. */
export function suiteTitle(base: string, options: ConformanceOptions): string {
  return options.name === undefined ? base : `${base}: ${options.name}`;
}

/** `t` with `describe` always present: groups become name prefixes where the runner has none. */
export function withGroups(t: ConformanceTest): Required<ConformanceTest> {
  if (t.describe !== undefined)
    return { test: (name, fn) => t.test(name, fn), describe: (name, fn) => t.describe?.(name, fn) };
  const path: string[] = [];
  return {
    test: (name, fn) => t.test([...path, name].join(" › "), fn),
    describe(name, fn) {
      path.push(name);
      try {
        fn();
      } finally {
        path.pop();
      }
    },
  };
}
