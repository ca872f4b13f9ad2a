// Factory names with '/' (a Go module path such as github.com/acme/webshop, as unobin's factories
// were named): accepted by segment, stored under one key segment (`factoryKey`, '/' → '~') that
// decodes back losslessly, while a factory without '/' keeps the keys it always had.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { listStacks } from "../../src/admin/index.js";
import {
  createBackend,
  factoryKey,
  factoryOfKey,
  validateFactoryName,
  validateName,
} from "../../src/backend/index.js";
import { stackLayout } from "../../src/backend/layout.js";
import { keyEncrypter } from "../../src/crypto/index.js";
import { isStateKeeperError } from "../../src/errors.js";
import { fileStore } from "../../src/objectstore/file.js";
import { memoryStore } from "../../src/objectstore/memory.js";
import type { ObjectStore } from "../../src/objectstore/types.js";
import { newSnapshot } from "../../src/snapshot/index.js";

const MODULE = "github.com/acme/webshop";

function refusedName(fn: () => unknown, ...fragments: string[]): void {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  assert.ok(
    isStateKeeperError(error) && error.code === "E_INVALID_NAME",
    `expected E_INVALID_NAME, got ${error}`,
  );
  for (const f of fragments)
    assert.ok((error as Error).message.includes(f), `${(error as Error).message} ∌ ${f}`);
}

describe("factory names with '/'", () => {
  it("accepts '/'-separated segments that each follow the name rules", () => {
    for (const name of [MODULE, "a/b", "gitlab.com/g/sub/repo@v2", "x/y-z_1+2=3", "webshop"])
      assert.equal(validateFactoryName(name), name);
    assert.equal(validateFactoryName(`${"a/".repeat(63)}bc`), `${"a/".repeat(63)}bc`, "128 characters");
  });

  it("refuses empty segments, '..', characters outside the alphabet, and names over 128 characters", () => {
    for (const [name, fragment] of [
      ["/a", "empty segment"],
      ["a/", "empty segment"],
      ["a//b", "empty segment"],
      ["/", "empty segment"],
      ["a/../b", '"..'],
      ["a/..", '".."'],
      ["a/.b", '".b" must start with a letter or digit'],
      ["a/b c", '"b c"'],
      ["a~b", "must start with a letter or digit and use only"],
      ["a/b~c", '"b~c"'],
      ["a/b%2Fc", '"b%2Fc"'],
      ["a\\b", "use only letters"],
      [`${"a/".repeat(63)}bcd`, "at most 128 characters"],
      ["", "must not be empty"],
    ] as const)
      refusedName(() => validateFactoryName(name), fragment);
    refusedName(() => validateFactoryName(7), "must be a string");
  });

  it("stack names stay as they were: no '/'", () => {
    refusedName(() => validateName("stack", "a/b"), "use only letters");
    refusedName(() => createBackend(memoryStore(), { factory: MODULE, stack: "a/b" }), "stack");
  });

  it("encodes a factory into one key segment and decodes it back; a plain factory is its own key", () => {
    assert.equal(factoryKey(MODULE), "github.com~acme~webshop");
    assert.equal(factoryOfKey("github.com~acme~webshop"), MODULE);
    assert.equal(factoryKey("webshop"), "webshop");
    assert.equal(factoryOfKey("webshop"), "webshop");
    for (const name of [MODULE, "a/b", "a.b/c-d/e@f", "webshop"])
      assert.equal(factoryOfKey(factoryKey(name)), name);
    // Segments that are no factory's key: refused, not decoded into something else.
    for (const segment of ["~a", "a~", "a~~b", "a~..~b", "a/b", ""]) refusedName(() => factoryOfKey(segment));
  });

  it("a factory without '/' keeps its layout byte for byte; one with '/' takes one key segment everywhere", () => {
    const plain = stackLayout("team/", "webshop", "prod");
    assert.deepEqual(
      [
        plain.base,
        plain.current,
        plain.lock,
        plain.snapshot("r1"),
        plain.sealLocation("r1"),
        plain.chunk("c1"),
        plain.chunkLocation("c1"),
      ],
      [
        "team/webshop/prod/",
        "team/webshop/prod/current",
        "team/webshop/prod/lock",
        "team/webshop/prod/snapshots/r1.json.enc",
        "webshop/prod/snapshots/r1",
        "team/webshop/prod/chunks/c1",
        "webshop/prod/chunks/c1",
      ],
    );
    const nested = stackLayout("", MODULE, "prod");
    assert.deepEqual(
      [
        nested.current,
        nested.snapshot("r1"),
        nested.sealLocation("r1"),
        nested.chunk("c1"),
        nested.chunkLocation("c1"),
      ],
      [
        "github.com~acme~webshop/prod/current",
        "github.com~acme~webshop/prod/snapshots/r1.json.enc",
        "github.com~acme~webshop/prod/snapshots/r1",
        "github.com~acme~webshop/prod/chunks/c1",
        "github.com~acme~webshop/prod/chunks/c1",
      ],
    );
  });
});

const STORES: Array<{ name: string; make: () => ObjectStore }> = [
  { name: "memory", make: () => memoryStore() },
  { name: "file", make: () => fileStore(mkdtempSync(join(tmpdir(), "statekeeper-factory-"))) },
];

async function keysOf(store: ObjectStore): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of store.list("")) keys.push(o.key);
  return keys.sort();
}

for (const { name, make } of STORES) {
  describe(`a factory with '/' on the ${name} store`, () => {
    it("commits, lists under its name, reads back, and sits under the encoded key beside a plain factory", async () => {
      const store = make();
      const encrypter = keyEncrypter({ key: randomBytes(32) });
      const nested = createBackend(store, { factory: MODULE, stack: "prod", encrypter });
      const plain = createBackend(store, { factory: "webshop", stack: "prod", encrypter });
      const snap = (factory: string, address: string) => {
        const s = newSnapshot({ name: factory, version: "1", contentRevision: "x" }, "prod");
        s.entries = [{ address, type: "leaf", kind: "k" }];
        return s;
      };
      const rev = await nested.commit(snap(MODULE, "nested"));
      const plainRev = await plain.commit(snap("webshop", "plain"));
      const lock = await nested.lock({ operation: "apply" });
      try {
        // Each stack headed by its log (the default): its hint, then its commit entry (the
        // revision) and, for the locked one, its lock entry.
        const entry = (seq: number) => `log/${"0".repeat(16)}/${String(seq).padStart(16, "0")}`;
        assert.deepEqual([rev, plainRev], ["1", "1"]);
        assert.deepEqual(await keysOf(store), [
          "github.com~acme~webshop/prod/head",
          `github.com~acme~webshop/prod/${entry(1)}`,
          `github.com~acme~webshop/prod/${entry(2)}`,
          "webshop/prod/head",
          `webshop/prod/${entry(1)}`,
        ]);
        const rows = await listStacks(store);
        assert.deepEqual(
          rows.map((r) => [r.factory, r.stack, r.current, r.revisions, r.locked]),
          [
            [MODULE, "prod", rev, 1, true],
            ["webshop", "prod", plainRev, 1, false],
          ],
        );
      } finally {
        await lock.unlock();
      }
      const again = createBackend(store, { factory: MODULE, stack: "prod", encrypter });
      assert.deepEqual(
        (await again.current()).entries.map((e) => e.address),
        ["nested"],
      );
      assert.deepEqual(
        (await plain.current()).entries.map((e) => e.address),
        ["plain"],
      );
      // The sealed location names the encoded factory: the revision does not open as another stack's.
      // Here the nested stack's commit entry 1, copied over the plain stack's entry 1.
      const at = `log/${"0".repeat(16)}/${"1".padStart(16, "0")}`;
      const sealed = await store.get(`github.com~acme~webshop/prod/${at}`);
      assert.ok(sealed);
      await store.put(`webshop/prod/${at}`, sealed.body);
      await assert.rejects(
        createBackend(store, { factory: "webshop", stack: "prod", encrypter }).get(rev),
        (e) => isStateKeeperError(e) && e.code === "E_DECRYPT",
      );
    });
  });
}
