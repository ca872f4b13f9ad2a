import assert from "node:assert/strict";
import { test } from "node:test";
import { hasErrorCode, type StateKeeperError } from "../../src/errors.js";
import { resolveSpacesConfig, spacesRecordStore } from "../../src/records/spaces.js";

const noEnv = {};
const invalidOption =
  (option: string) =>
  (e: unknown): e is StateKeeperError =>
    hasErrorCode(e, "E_INVALID_CONFIG") && e.details.option === option;

test("the endpoint is derived from the region unless given", () => {
  const fromRegion = resolveSpacesConfig({ region: "nyc3", bucket: "b" }, noEnv);
  assert.deepEqual(fromRegion, {
    s3: {
      bucket: "b",
      region: "nyc3",
      endpoint: "https://nyc3.digitaloceanspaces.com",
      forcePathStyle: false,
    },
    prefix: "iac-state/",
  });
  const custom = resolveSpacesConfig(
    { region: "ams3", bucket: "b", endpoint: "http://127.0.0.1:9000" },
    noEnv,
  );
  assert.equal(custom.s3.endpoint, "http://127.0.0.1:9000");
  assert.equal(custom.s3.region, "ams3");
  assert.equal(custom.s3.forcePathStyle, true);
  const endpointOnly = resolveSpacesConfig(
    { bucket: "b", endpoint: "https://sfo3.digitaloceanspaces.com" },
    noEnv,
  );
  assert.equal(endpointOnly.s3.region, "us-east-1");
  assert.equal(resolveSpacesConfig({ region: "nyc3", bucket: "b", prefix: "team" }, noEnv).prefix, "team/");
});

test("neither region nor endpoint, no bucket, or a region that is not a host label is refused", () => {
  assert.throws(() => resolveSpacesConfig({ bucket: "b" }, noEnv), invalidOption("region"));
  assert.throws(
    () => resolveSpacesConfig({ bucket: "b", region: "", endpoint: "" }, noEnv),
    invalidOption("region"),
  );
  assert.throws(() => resolveSpacesConfig({ region: "nyc3" } as never, noEnv), invalidOption("bucket"));
  for (const region of ["evil.com/x", "NYC3", "a b", "-x"])
    assert.throws(() => resolveSpacesConfig({ bucket: "b", region }, noEnv), invalidOption("region"), region);
  assert.throws(
    () => resolveSpacesConfig({ bucket: "b", region: "nyc3", prefix: "../x" }, noEnv),
    (e) => hasErrorCode(e, "E_INVALID_NAME"),
  );
});

test("credentials come from the options, else DO_SPACES_ACCESS_KEY / DO_SPACES_SECRET_KEY", () => {
  const env = { DO_SPACES_ACCESS_KEY: "env-access", DO_SPACES_SECRET_KEY: "env-secret" };
  assert.deepEqual(resolveSpacesConfig({ region: "nyc3", bucket: "b" }, env).s3.credentials, {
    accessKeyId: "env-access",
    secretAccessKey: "env-secret",
  });
  assert.deepEqual(
    resolveSpacesConfig(
      { region: "nyc3", bucket: "b", accessKey: "opt-access", secretKey: "opt-secret" },
      env,
    ).s3.credentials,
    { accessKeyId: "opt-access", secretAccessKey: "opt-secret" },
  );
  assert.equal(resolveSpacesConfig({ region: "nyc3", bucket: "b" }, noEnv).s3.credentials, undefined);
});

test("half a credential pair is refused without printing the half that is there", () => {
  const secret = "super-secret-value-do-not-print";
  assert.throws(
    () => resolveSpacesConfig({ region: "nyc3", bucket: "b", secretKey: secret }, noEnv),
    (e) =>
      invalidOption("accessKey")(e) &&
      !String(e.message).includes(secret) &&
      !JSON.stringify(e.details).includes(secret),
  );
  assert.throws(
    () => resolveSpacesConfig({ region: "nyc3", bucket: "b" }, { DO_SPACES_ACCESS_KEY: secret }),
    (e) => invalidOption("secretKey")(e) && !String(e.message).includes(secret),
  );
});

test("spacesRecordStore validates at once and touches no network until used", () => {
  assert.throws(() => spacesRecordStore({ bucket: "b" }), invalidOption("region"));
  const records = spacesRecordStore({
    bucket: "b",
    region: "nyc3",
    accessKey: "a",
    secretKey: "s",
    prefix: "p",
  });
  assert.equal(records.prefix, "p/");
});
