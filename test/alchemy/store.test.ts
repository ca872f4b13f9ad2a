// statekeeperStateStore in process, on a memory store, with Alchemy's own Scope: the StateStore
// contract, the address scheme, the lock taken on first use and released at the stage's deinit.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Scope, type State } from "alchemy";
import { entryToState, parseAddress, scopePath, stateToEntry } from "../../src/alchemy/entries.js";
import { statekeeperStateStore } from "../../src/alchemy/index.js";
import { createBackend } from "../../src/backend/backend.js";
import { noopEncrypter } from "../../src/crypto/noop.js";
import { memoryStore } from "../../src/objectstore/memory.js";
import type { ObjectStore } from "../../src/objectstore/types.js";

function scopes(store: ObjectStore, app = "app", stage = "dev") {
  const stateStore = statekeeperStateStore({ store, lockTimeoutMs: 1000 });
  const root = new Scope({
    scopeName: app,
    parent: null,
    phase: "up",
    stage,
    quiet: true,
    noTrack: true,
    stateStore,
  });
  const stageScope = new Scope({ scopeName: stage, parent: root, stage, quiet: true, noTrack: true });
  return { root, stageScope };
}

const state = (id: string, props: Record<string, unknown>): State =>
  ({
    kind: "test::Thing",
    id,
    fqn: `app/dev/${id}`,
    seq: 0,
    status: "created",
    data: {},
    props,
    output: { id },
  }) as never;

describe("statekeeperStateStore in process", () => {
  it("keeps keys per scope, round-trips values in their key order, locks on first use, releases at deinit", async () => {
    const store = memoryStore();
    const { stageScope } = scopes(store);
    const backend = createBackend(store, { factory: "app", stack: "dev", encrypter: noopEncrypter() });
    assert.equal(await backend.lockInfo(), undefined, "nothing is taken before the first use");
    await stageScope.state.set("web", state("web", { z: 1, a: 2 }));
    assert.equal((await backend.lockInfo())?.pid, process.pid);
    const child = new Scope({ scopeName: "web", parent: stageScope });
    await child.state.set("bucket", state("bucket", { name: "b" }));
    assert.deepEqual(await stageScope.state.list(), ["web"]);
    assert.deepEqual(await child.state.list(), ["bucket"]);
    assert.deepEqual(await stageScope.state.listScopes?.(), ["web"]);
    const got = await stageScope.state.get("web");
    assert.equal(JSON.stringify(got?.props), '{"z":1,"a":2}', "key order survives");
    assert.equal(await stageScope.state.get("nope"), undefined);
    await stageScope.state.delete("nope"); // a missing key is not an error and writes nothing
    const revs = (await backend.list()).length;
    await child.state.delete("bucket");
    assert.equal((await backend.list()).length, revs + 1);
    assert.deepEqual(await child.state.list(), []);
    await stageScope.deinit();
    assert.equal(await backend.lockInfo(), undefined, "released at the stage's deinit");
    const entries = (await backend.current()).entries.map((e) => e.address);
    assert.deepEqual(entries, ["web"]);
  });

  it("a deploy whose lock was broken and taken by another writes nothing more (fenced)", async () => {
    const store = memoryStore();
    const { stageScope } = scopes(store);
    const other = createBackend(store, { factory: "app", stack: "dev", encrypter: noopEncrypter() });
    await stageScope.state.set("web", state("web", { v: 1 }));
    await other.forceUnlock();
    const lock = await other.lock({ operation: "someone else" });
    await assert.rejects(stageScope.state.set("web", state("web", { v: 2 })), (e: { code?: string }) =>
      ["E_FENCED", "E_LOCK_LOST"].includes(e.code ?? ""),
    );
    await assert.rejects(stageScope.state.set("db", state("db", {})), (e: { code?: string }) =>
      ["E_FENCED", "E_LOCK_LOST"].includes(e.code ?? ""),
    );
    const entries = (await other.current()).entries;
    assert.deepEqual(
      entries.map((e) => [e.address, JSON.parse(String(e.inputs?.["alchemy-state"])).props]),
      [["web", { v: 1 }]],
    );
    await lock.unlock();
  });

  it("refuses bad options and names before any I/O", () => {
    assert.throws(() => statekeeperStateStore({ store: 42 as never }), { code: "E_INVALID_CONFIG" });
    assert.throws(() => statekeeperStateStore({ store: "memory://x", lockTimeoutMs: -1 }), {
      code: "E_INVALID_CONFIG",
    });
    let touched = false;
    const store = new Proxy(memoryStore(), {
      get(target, p, r) {
        touched = true;
        return Reflect.get(target, p, r);
      },
    });
    assert.throws(() => scopes(store, "my app"), { code: "E_INVALID_NAME" });
    assert.equal(touched, false);
  });

  it("addresses: scope path and key joined by ':', the app scope's keys under ':root:'", () => {
    assert.equal(scopePath(["app"]), ":root:");
    assert.equal(scopePath(["app", "dev"]), "");
    assert.equal(scopePath(["app", "dev", "web", "a/b"]), "web:a/b:");
    assert.deepEqual(parseAddress("web:a/b:key"), { root: false, scopes: ["web", "a/b"], key: "key" });
    assert.deepEqual(parseAddress(":root:dev"), { root: true, scopes: [], key: "dev" });
    const e = stateToEntry("x", { kind: "k", props: { b: 1, a: 2 } });
    assert.equal(JSON.stringify(entryToState(e)), '{"kind":"k","props":{"b":1,"a":2}}');
    assert.throws(() => stateToEntry("x", [1]), { code: "E_INVALID_ARGUMENT" });
  });
});
