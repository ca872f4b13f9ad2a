// What an s3:// user sees when something is wrong before any request can succeed: no region, no
// credentials, an error the driver does not know. Run with the real AWS SDK in a child process
// whose environment holds no AWS settings at all (the test machine's AWS_* variables point at
// the test server, so they are removed). And no Node-version warning from the SDK on Node 20.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { hasErrorCode } from "../../src/errors.js";
import { mapS3Error } from "../../src/objectstore/s3/errors.js";
import { makeS3Url, s3TestEnv } from "../support/s3.js";

const repoRoot = new URL("../..", import.meta.url).pathname;
const fixture = join(repoRoot, "test", "fixtures", "objectstore", "s3-request.ts");
const emptyHome = mkdtempSync(join(tmpdir(), "statekeeper-no-aws-"));
after(() => rmSync(emptyHome, { recursive: true, force: true }));

interface Outcome {
  ok: boolean;
  code?: string;
  message?: string;
  details?: Record<string, unknown>;
  body?: string;
  warningSwitch: string | null;
}

/** The process environment without any AWS setting: no region, no credentials, no profile, no IMDS. */
function envWithoutAws(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env))
    if (!name.startsWith("AWS_") && !name.startsWith("STATEKEEPER_")) env[name] = value;
  return {
    ...env,
    HOME: emptyHome,
    AWS_CONFIG_FILE: join(emptyHome, "no-config"),
    AWS_SHARED_CREDENTIALS_FILE: join(emptyHome, "no-credentials"),
    // No instance metadata service here; this only spares the SDK's lookup timeouts.
    AWS_EC2_METADATA_DISABLED: "true",
    ...extra,
  };
}

function runRequest(url: string, env: NodeJS.ProcessEnv): { outcome: Outcome; stderr: string } {
  const child = spawnSync(process.execPath, ["--import", "tsx", fixture, url], {
    cwd: repoRoot,
    env,
    encoding: "utf8",
    timeout: 60_000,
  });
  const line = child.stdout.split("\n").find((l) => l.startsWith("{"));
  assert.ok(line, `the fixture printed no result (exit ${child.status}): ${child.stderr}`);
  return { outcome: JSON.parse(line) as Outcome, stderr: child.stderr };
}

describe("s3 errors say what went wrong and what to do", () => {
  it("no region anywhere: E_INVALID_CONFIG naming ?region= and AWS_REGION", () => {
    const { outcome } = runRequest("s3://some-bucket/state", envWithoutAws());
    assert.equal(outcome.ok, false);
    assert.equal(outcome.code, "E_INVALID_CONFIG", outcome.message);
    assert.match(outcome.message ?? "", /no AWS region configured/);
    assert.match(outcome.message ?? "", /\?region=/);
    assert.match(outcome.message ?? "", /AWS_REGION/);
    assert.equal(outcome.details?.option, "region");
  });

  it("no credentials anywhere: E_AUTH saying none were found and how to provide them", () => {
    const { outcome } = runRequest(
      "s3://some-bucket/state?region=eu-west-1&endpoint=http%3A%2F%2F127.0.0.1%3A9&forcePathStyle=true",
      envWithoutAws(),
    );
    assert.equal(outcome.ok, false);
    assert.equal(outcome.code, "E_AUTH", outcome.message);
    assert.match(outcome.message ?? "", /no AWS credentials found/);
    assert.match(outcome.message ?? "", /AWS_ACCESS_KEY_ID/);
    assert.match(outcome.message ?? "", /AWS_PROFILE/);
    assert.doesNotMatch(outcome.message ?? "", /access denied|invalid credentials/);
  });

  it("an error the driver does not recognise names its type, never its message", () => {
    const secretish = "AWS4-HMAC-SHA256\n20260101T000000Z\nscope\ncanonical-request-hash";
    for (const [error, name] of [
      [new Error(secretish), "Error"],
      [new TypeError(secretish), "TypeError"],
      [
        Object.assign(new Error(secretish), { name: "InvalidArgument", $metadata: { httpStatusCode: 400 } }),
        "S3 InvalidArgument, HTTP 400",
      ],
    ] as const) {
      const unknown = mapS3Error(error, "put", "b", "k");
      assert.ok(hasErrorCode(unknown, "E_UNAVAILABLE"), name);
      assert.equal(unknown.retryable, false, name);
      assert.ok(unknown.message.endsWith(`: request failed (not retryable) (${name})`), unknown.message);
      assert.ok(!unknown.message.includes("AWS4-HMAC-SHA256"), unknown.message);
    }

    const signature = Object.assign(
      new Error(`The request signature we calculated does not match: ${secretish}`),
      {
        name: "SignatureDoesNotMatch",
        $metadata: { httpStatusCode: 403 },
      },
    );
    const auth = mapS3Error(signature, "get", "b", "k");
    assert.ok(hasErrorCode(auth, "E_AUTH"));
    assert.match(auth.message, /SignatureDoesNotMatch/);
    assert.ok(!auth.message.includes("AWS4-HMAC-SHA256"), auth.message);
  });
});

describe("Node version warning", () => {
  const env = () => {
    const { credentials } = s3TestEnv();
    assert.ok(credentials, "the test server's AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY must be set");
    return envWithoutAws({
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    });
  };
  const warning = /NodeVersionSupportWarning|will require node/i;

  it("an s3:// store on Node 20 prints no AWS SDK Node-version warning, and leaves the environment as it was", () => {
    const { outcome, stderr } = runRequest(makeS3Url(), env());
    assert.deepEqual({ ok: outcome.ok, body: outcome.body }, { ok: true, body: "v" }, outcome.message);
    assert.doesNotMatch(stderr, warning);
    assert.equal(outcome.warningSwitch, null, "the SDK's switch is not left set in the user's environment");
  });

  it("a user who set the SDK's switch keeps their choice (here: warnings on)", () => {
    const { outcome, stderr } = runRequest(makeS3Url(), {
      ...env(),
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "false",
    });
    assert.equal(outcome.ok, true, outcome.message);
    assert.equal(outcome.warningSwitch, "false");
    // The SDK warns only below its supported major version; on newer Node there is nothing to see.
    if (Number(process.versions.node.split(".")[0]) < 22) assert.match(stderr, warning);
  });
});
