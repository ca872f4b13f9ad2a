// The file store's root: a path that can never work is refused at construction, and a root that
// turned out to be a file fails every operation with one clear error instead of a misleading one
// ("no current snapshot" from a get that returns undefined, ENOTDIR about some key from a put).
import assert from "node:assert/strict";
import { promises as fsPromises, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { hasErrorCode } from "../../src/errors.js";
import { fileStore } from "../../src/objectstore/file.js";
import type { ObjectStore } from "../../src/objectstore/types.js";

const base = mkdtempSync(join(tmpdir(), "statekeeper-file-root-"));
after(() => rmSync(base, { recursive: true, force: true }));
let counter = 0;
const freshPath = () => join(base, `root-${++counter}`);
const bytes = (s: string) => new TextEncoder().encode(s);

/** Every operation of the contract, each run to completion (list drained). */
function everyOperation(store: ObjectStore): [string, () => Promise<unknown>][] {
  return [
    ["get", () => store.get("f/s/current")],
    ["head", () => store.head("f/s/current")],
    ["put", () => store.put("f/s/current", bytes("x"))],
    ["put create-only", () => store.put("f/s/lock", bytes("x"), { ifNoneMatch: "*" })],
    ["put compare-and-swap", () => store.put("f/s/lock", bytes("x"), { ifMatch: '"abc"' })],
    ["delete", () => store.delete("f/s/lock")],
    ["delete conditional", () => store.delete("f/s/lock", { ifMatch: '"abc"' })],
    [
      "list",
      async () => {
        for await (const _ of store.list("f/")) {
        }
      },
    ],
    ["probe", () => store.probe()],
  ];
}

describe("file store root", () => {
  test("a root containing a NUL character is refused at construction, naming the option", () => {
    assert.throws(
      () => fileStore("/a\0b"),
      (e: unknown) =>
        hasErrorCode(e, "E_INVALID_CONFIG") && e.details.option === "root" && /root/.test(e.message),
    );
  });

  test("a root that is a regular file: every operation fails with E_INVALID_CONFIG naming the root", async () => {
    const root = freshPath();
    writeFileSync(root, "not a folder");
    const store = fileStore(root);
    for (const [name, run] of everyOperation(store))
      await assert.rejects(
        run(),
        (e: unknown) =>
          hasErrorCode(e, "E_INVALID_CONFIG") &&
          e.message.includes(`store root ${root} is a file, not a folder`) &&
          e.details.option === "root",
        name,
      );
  });

  test("a root under a regular file fails the same way, naming the file in its path", async () => {
    const file = freshPath();
    writeFileSync(file, "not a folder");
    const store = fileStore(join(file, "state"));
    for (const [name, run] of everyOperation(store))
      await assert.rejects(
        run(),
        (e: unknown) => hasErrorCode(e, "E_INVALID_CONFIG") && e.message.includes(file),
        name,
      );
  });

  test("a missing root is checked again until it exists; once it is a folder, it is not stat'ed again", async () => {
    const root = freshPath();
    const store = fileStore(root);
    assert.equal(await store.get("k"), undefined, "a missing root holds no keys");
    writeFileSync(root, "appeared as a file");
    await assert.rejects(store.get("k"), (e: unknown) => hasErrorCode(e, "E_INVALID_CONFIG"));
    rmSync(root);
    mkdirSync(root);

    const patchable = fsPromises as unknown as Record<"stat", (...args: unknown[]) => Promise<unknown>>;
    const original = patchable.stat;
    const statted: string[] = [];
    patchable.stat = (...args: unknown[]) => {
      statted.push(String(args[0]));
      return original.apply(fsPromises, args);
    };
    syncBuiltinESMExports();
    try {
      await store.put("k", bytes("v"));
      await store.get("k");
      await store.head("k");
      for await (const _ of store.list("")) {
      }
      await store.delete("k");
    } finally {
      patchable.stat = original;
      syncBuiltinESMExports();
    }
    assert.equal(statted.filter((p) => p === root).length, 1, "the root is stat'ed once, then trusted");
  });
});
