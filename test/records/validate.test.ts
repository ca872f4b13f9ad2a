import assert from "node:assert/strict";
import { test } from "node:test";
import { hasErrorCode } from "../../src/errors.js";
import type { IaCState } from "../../src/records/types.js";
import { decodeStoredState, encodeState, isRfc3339, validateStateInput } from "../../src/records/validate.js";

const bytes = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));

test("records written by the Go engines read back: null maps, omitted fields, unknown fields", () => {
  const stored = decodeStoredState(
    bytes({
      resource_id: "vpc",
      resource_type: "vpc",
      provider: "do",
      status: "provisioning",
      outputs: null,
      config: null,
      created_at: "2024-05-01T10:00:00Z",
      updated_at: "2024-05-01T10:00:00.123456789+02:00",
      future_field: 1,
    }),
    "vpc",
  );
  assert.deepEqual(stored, {
    resource_id: "vpc",
    resource_type: "vpc",
    provider: "do",
    status: "provisioning",
    outputs: {},
    config: {},
    created_at: "2024-05-01T10:00:00Z",
    updated_at: "2024-05-01T10:00:00.123456789+02:00",
  });
});

test("encoding uses DigitalOcean's names and order and leaves empty optional fields out", () => {
  const state: IaCState = {
    resource_id: "db",
    resource_type: "database",
    provider: "do",
    status: "active",
    outputs: { host: "h" },
    config: {},
    created_at: "2024-01-01T00:00:00.000Z",
    updated_at: "2024-01-02T00:00:00.000Z",
    error: "boom",
  };
  assert.equal(
    new TextDecoder().decode(encodeState(state)),
    '{"resource_id":"db","resource_type":"database","provider":"do","status":"active","outputs":{"host":"h"},"config":{},"created_at":"2024-01-01T00:00:00.000Z","updated_at":"2024-01-02T00:00:00.000Z","error":"boom"}',
  );
  assert.throws(
    () => encodeState({ ...state, outputs: { n: 1n } }),
    (e) => hasErrorCode(e, "E_INVALID_RECORD"),
  );
});

test("a stored body that is not JSON, not a record, or names another resource is corrupt", () => {
  const cases: [Uint8Array, string][] = [
    [new TextEncoder().encode("{"), "not valid JSON"],
    [new Uint8Array([0xff, 0xfe]), "not valid JSON"],
    [bytes([1, 2]), "malformed"],
    [bytes({ resource_id: "a", status: 7 }), "status"],
    [bytes({ resource_id: "b", status: "active" }), "names resource"],
  ];
  for (const [body, says] of cases)
    assert.throws(
      () => decodeStoredState(body, "a"),
      (e) => hasErrorCode(e, "E_CORRUPT") && e.message.includes(says),
    );
});

test("timestamps must be RFC 3339", () => {
  for (const ok of ["2024-01-01T00:00:00Z", "2024-01-01t00:00:00.5-07:00"]) assert.ok(isRfc3339(ok), ok);
  for (const bad of ["2024-01-01", "2024-01-01 00:00:00Z", "2024-13-45T99:00:00Z", "yesterday", 5])
    assert.ok(!isRfc3339(bad), String(bad));
  assert.throws(
    () => validateStateInput({ resource_id: "a", status: "active", updated_at: "2024-01-01" }),
    (e) => hasErrorCode(e, "E_INVALID_RECORD") && e.details.field === "updated_at",
  );
});
