import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type AdminProgress, listStacks } from "../../src/admin/index.js";
import { type Backend, createBackend, type Lock } from "../../src/backend/index.js";
import { keyEncrypter } from "../../src/crypto/index.js";
import type { Encrypter } from "../../src/crypto/types.js";
import { fileStore } from "../../src/objectstore/file.js";
import { memoryStore } from "../../src/objectstore/memory.js";
import type { ObjectStore } from "../../src/objectstore/types.js";
import { newSnapshot, type Snapshot } from "../../src/snapshot/index.js";
import { rejectsWithCode } from "../../src/testing/assertions.js";

export const FACTORY = "webshop";
export const STACK = "prod";

/** Every store kind the admin functions are tested on, each call a fresh, empty store. */
export const STORES: Array<{ name: string; make: () => ObjectStore }> = [
  { name: "memory", make: () => memoryStore() },
  { name: "file", make: () => fileStore(mkdtempSync(join(tmpdir(), "statekeeper-admin-"))) },
];

export const newKey = (): Encrypter => keyEncrypter({ key: randomBytes(32) });

export function snapshot(addresses: string[], stack = STACK): Snapshot {
  const s = newSnapshot({ name: FACTORY, version: "1.0.0", contentRevision: "abc" }, stack);
  s.entries = addresses.map((address) => ({ address, type: "leaf" as const, kind: "aws:s3:Bucket" }));
  return s;
}

export function open(store: ObjectStore, encrypter?: Encrypter, stack = STACK): Backend {
  return createBackend(store, {
    factory: FACTORY,
    stack,
    ...(encrypter === undefined ? {} : { encrypter }),
    lockDefaults: { leaseMs: 30_000, pollMs: 20 },
    // These tests keep revision names and write revisions off the line: a pointer stack's
    // promises. log-head.test.ts runs the tools on the default head, a log.
    head: "pointer",
  });
}

/** Commits `n` revisions (entries r0, r1, …) and returns their revs, oldest first. */
export async function commitRevisions(backend: Backend, n: number): Promise<string[]> {
  const revs: string[] = [];
  for (let i = 0; i < n; i++) revs.push(await backend.commit(snapshot([`r${i}`])));
  return revs;
}

/** Records every progress event. */
export function recorder<P extends string>(): {
  events: AdminProgress<P>[];
  onProgress: (e: AdminProgress<P>) => void;
} {
  const events: AdminProgress<P>[] = [];
  return { events, onProgress: (e) => events.push(e) };
}

/** Awaits `p` and asserts it rejects with a StateKeeperError of `code`; returns the error. */
export const rejectsWith = rejectsWithCode;

/**
 * Stacks of every kind, and objects that are not stacks, for `listStacks`: returns what a
 * listing must find (revisions counted); the caller releases `locks`.
 */
export async function storeOfStacks(store: ObjectStore): Promise<{
  expected: Array<
    [factory: string, stack: string, current: string | null, revisions: number, locked: boolean]
  >;
  locks: Lock[];
}> {
  const key = newKey();
  const prod = await commitRevisions(open(store, key, "prod"), 2);
  const staging = open(store, key, "staging");
  await staging.write(snapshot(["never-current"], "staging"));
  const lock = await staging.lock({ operation: "apply" });
  // A stack with only a revision that never became current, and one with only a lock.
  await open(store, key, "orphan").write(snapshot(["orphan"], "orphan"));
  const onlyLock = await open(store, key, "only-lock").lock({ operation: "plan" });
  const nestedFactory = "github.com/acme/webshop";
  const nested = await createBackend(store, { factory: nestedFactory, stack: "prod", encrypter: key }).commit(
    {
      ...snapshot(["n"], "prod"),
      factory: { name: nestedFactory, version: "1", contentRevision: "c" },
    },
  );
  // Not stacks: a record beside the stacks, another layout's folders, chunks alone, names no
  // factory or stack can have.
  const plain = (text: string) => new TextEncoder().encode(text);
  await store.put("records/res-1.json", plain("{}"));
  await store.put("deployments/instances/i-1.json", plain("{}"));
  await store.put("webshop/chunky/chunks/c1", plain("x"));
  await store.put("Bad Name/prod/current", plain("{}"));
  await store.put("webshop/bad name/current", plain("{}"));
  return {
    expected: [
      [nestedFactory, "prod", nested, 1, false],
      ["webshop", "only-lock", null, 0, true],
      ["webshop", "orphan", null, 1, false],
      ["webshop", "prod", prod[1] as string, 2, false],
      ["webshop", "staging", null, 1, true],
    ],
    locks: [lock, onlyLock],
  };
}

/**
 * `listStacks` finds every kind of stack and skips objects that are not stacks, with its
 * revisions counted or not (then `revisions` is null, and a stack with neither pointer nor lock
 * is not found).
 */
export async function modesAgree(store: ObjectStore): Promise<void> {
  const { expected, locks } = await storeOfStacks(store);
  try {
    const counted = await listStacks(store);
    assert.deepEqual(
      counted.map((r) => [r.factory, r.stack, r.current, r.revisions, r.locked]),
      expected,
    );
    // Without counting, a stack is found by its `current` or its `lock`: one whose only revision
    // never became current (`orphan`) is not a stack yet, and is not listed.
    const uncounted = await listStacks(store, { revisions: false });
    assert.deepEqual(
      uncounted,
      counted.filter((r) => r.current !== null || r.locked).map((r) => ({ ...r, revisions: null })),
    );
    assert.ok(!uncounted.some((r) => r.stack === "orphan"));
  } finally {
    for (const lock of locks) await lock.unlock();
  }
}
