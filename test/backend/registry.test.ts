import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  backendTypes,
  openBackend,
  openBackendFromConfig,
  registerBackendType,
  validateBackendConfig,
} from "../../src/backend/registry.js";
import { noopEncrypter } from "../../src/crypto/noop.js";
import { hasErrorCode } from "../../src/errors.js";
import { memoryStore } from "../../src/objectstore/memory.js";
import { newSnapshot } from "../../src/snapshot/codec.js";

const ctx = { factory: "app", stack: "prod", encrypter: noopEncrypter() };
const snapshot = () => newSnapshot({ name: "app", version: "1", contentRevision: "c" }, "prod");

test("built-in backend types are registered with described configuration", () => {
  const names = backendTypes().map((t) => t.name);
  for (const n of ["local", "memory"]) assert.ok(names.includes(n), `${n} registered`);
  const local = backendTypes().find((t) => t.name === "local")!;
  assert.equal(local.configuration.path?.required, true);
});

test("configuration is validated against the schema with every problem named", () => {
  const local = backendTypes().find((t) => t.name === "local")!;
  assert.throws(
    () => validateBackendConfig(local, { pth: "/x", path: 3 }),
    (e) =>
      hasErrorCode(e, "E_INVALID_CONFIG") &&
      /unknown field "pth"/.test(e.message) &&
      /"path" must be a string/.test(e.message),
  );
  assert.throws(
    () => validateBackendConfig(local, {}),
    (e) => hasErrorCode(e, "E_INVALID_CONFIG") && /"path" is required/.test(e.message),
  );
  assert.throws(
    () => validateBackendConfig(local, null),
    (e) => hasErrorCode(e, "E_INVALID_CONFIG"),
  );
});

test("openBackendFromConfig opens a local backend that commits and reads back", async () => {
  const dir = mkdtempSync(join(tmpdir(), "statekeeper-registry-"));
  const backend = await openBackendFromConfig("local", { path: dir }, ctx);
  const rev = await backend.commit(snapshot());
  const again = await openBackendFromConfig("local", { path: dir }, ctx);
  assert.equal(await again.currentRev(), rev);
});

test("unknown backend types are refused, naming the registered ones", async () => {
  await assert.rejects(
    openBackendFromConfig("gcs", {}, ctx),
    (e) =>
      hasErrorCode(e, "E_INVALID_CONFIG") &&
      /unknown backend type "gcs"/.test(e.message) &&
      /local/.test(e.message),
  );
});

test("a third-party type registers once and opens through the registry", async () => {
  const shared = memoryStore();
  registerBackendType({
    name: "acme-test",
    description: "test type",
    configuration: { region: { type: "string", required: true, description: "region" } },
    openStore: async () => shared,
  });
  assert.throws(
    () =>
      registerBackendType({
        name: "acme-test",
        description: "",
        configuration: {},
        openStore: async () => shared,
      }),
    (e) => hasErrorCode(e, "E_INVALID_CONFIG"),
  );
  const b = await openBackendFromConfig("acme-test", { region: "eu" }, ctx);
  await b.commit(snapshot());
  assert.ok(backendTypes().some((t) => t.name === "acme-test"));
});

test("openBackend opens memory:// and file: URLs and refuses unknown schemes", async () => {
  const a = await openBackend("memory://registry-test", ctx);
  const rev = await a.commit(snapshot());
  const b = await openBackend("memory://registry-test", ctx);
  assert.equal(await b.currentRev(), rev);
  const dir = mkdtempSync(join(tmpdir(), "statekeeper-url-"));
  const f = await openBackend(`file://${dir}`, ctx);
  await f.commit(snapshot());
  await assert.rejects(openBackend("ftp://x", ctx), (e) => hasErrorCode(e, "E_INVALID_CONFIG"));
});
