// The S3 driver against a real S3 server (RGW): options, URLs, ETag forms, error mapping,
// read-compare-delete, and that the package root never loads the AWS SDK.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { type AddressInfo, createServer } from "node:net";
import { describe, it } from "node:test";
import { hasErrorCode } from "../../src/errors.js";
import { s3OptionsFromUrl, s3Store } from "../../src/objectstore/s3/index.js";
import { openStore } from "../../src/objectstore/schemes.js";
import { isStoreError } from "../../src/objectstore/types.js";
import { startFaultProxy } from "../support/fault-proxy.js";
import { makeS3Store, makeS3Url, randomS3Prefix, s3TestEnv } from "../support/s3.js";

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));

describe("s3Store options", () => {
  const base = { bucket: "b" };
  const cases: [string, Record<string, unknown>][] = [
    ["bucket", {}],
    ["bucket", { bucket: "a/b" }],
    ["bucket", { bucket: " b" }],
    ["prefix", { ...base, prefix: "a/../b" }],
    ["prefix", { ...base, prefix: 7 }],
    ["endpoint", { ...base, endpoint: "not a url" }],
    ["endpoint", { ...base, endpoint: "ftp://host" }],
    ["endpoint", { ...base, endpoint: "http://user:pw@host" }],
    ["region", { ...base, region: "" }],
    ["forcePathStyle", { ...base, forcePathStyle: "yes" }],
    ["kmsKeyId", { ...base, kmsKeyId: "" }],
    ["maxAttempts", { ...base, maxAttempts: 0 }],
    ["maxAttempts", { ...base, maxAttempts: 1.5 }],
    ["retryBaseDelayMs", { ...base, retryBaseDelayMs: -1 }],
    ["client", { ...base, client: {} }],
    ["credentials", { ...base, credentials: { accessKeyId: "AK" } }],
    ["credentials", { ...base, credentials: { accessKeyId: "AK", secretAccessKey: "" } }],
    ["bukcet", { ...base, bukcet: "typo" }],
  ];
  for (const [option, options] of cases) {
    it(`refuses a bad ${option} at once, naming it: ${JSON.stringify(options)}`, () => {
      assert.throws(
        () => s3Store(options as never),
        (e: unknown) =>
          hasErrorCode(e, "E_INVALID_CONFIG") &&
          e.message.includes(`"${option}"`) &&
          e.details.option === option,
      );
    });
  }

  it("never puts a secret into an options error", () => {
    const secret = "very-secret-value-123";
    assert.throws(
      () => s3Store({ bucket: "b", credentials: { accessKeyId: "", secretAccessKey: secret } }),
      (e: unknown) =>
        hasErrorCode(e, "E_INVALID_CONFIG") &&
        !JSON.stringify({ m: e.message, d: e.details }).includes(secret),
    );
  });
});

describe("s3:// URLs", () => {
  it("parses bucket, prefix and every query parameter", () => {
    assert.deepEqual(
      s3OptionsFromUrl(
        "s3://My_Bucket/team/state?region=eu-west-1&endpoint=http%3A%2F%2F127.0.0.1%3A9000&forcePathStyle=true&kmsKeyId=alias%2Fsk",
      ),
      {
        bucket: "My_Bucket",
        prefix: "/team/state",
        region: "eu-west-1",
        endpoint: "http://127.0.0.1:9000",
        kmsKeyId: "alias/sk",
        forcePathStyle: true,
      },
    );
    assert.deepEqual(s3OptionsFromUrl("s3://bucket"), { bucket: "bucket" });
  });

  it("refuses unknown parameters (naming them), credentials, a missing bucket and bad booleans", () => {
    const refuses = (url: string, part: string) =>
      assert.throws(
        () => s3OptionsFromUrl(url),
        (e: unknown) => hasErrorCode(e, "E_INVALID_CONFIG") && e.message.includes(part),
        url,
      );
    refuses("s3://b/p?region=x&secretKey=abc&bogus=1", "secretKey, bogus");
    refuses("s3://AKID:secret@b/p", "credentials");
    refuses("s3:///p", "no bucket");
    refuses("s3://b?forcePathStyle=yes", "forcePathStyle");
    refuses("s3://b?region=a&region=b", "twice");
    assert.throws(
      () => s3OptionsFromUrl("s3://AKID:supersecret@b/p"),
      (e: unknown) => !String(e).includes("supersecret"),
    );
  });

  it("openStore(s3://…) opens a working store on the test server", async () => {
    const prefix = randomS3Prefix("url");
    const viaUrl = await openStore(makeS3Url(prefix));
    assert.equal(viaUrl.name, "s3");
    await viaUrl.put("k", bytes("through the URL"));
    const direct = await makeS3Store({ prefix });
    assert.equal(text((await direct.get("k"))?.body), "through the URL");
  });
});

describe("s3 ETags and conditional requests on RGW", () => {
  it("compare-and-swap takes the ETag as put returned it, quoted or unquoted, and learns the form once", async () => {
    const env = s3TestEnv();
    const proxy = await startFaultProxy({ target: env.endpoint });
    try {
      const store = await makeS3Store({ endpoint: proxy.endpoint });
      const v1 = await store.put("k", bytes("v1"));
      assert.match(v1.etag, /^".+"$/, "etags are returned quoted, as S3 sends them");
      const v2 = await store.put("k", bytes("v2"), { ifMatch: v1.etag });
      const v3 = await store.put("k", bytes("v3"), { ifMatch: v2.etag.replaceAll('"', "") });
      assert.equal(text((await store.get("k"))?.body), "v3");
      assert.equal((await store.head("k"))?.etag, v3.etag);
      // Once learned, a compare-and-swap is a single PUT: no probing request per write.
      proxy.log.length = 0;
      await store.put("k", bytes("v4"), { ifMatch: v3.etag });
      assert.deepEqual(
        proxy.log.map((e) => `${e.method} ${e.status}`),
        ["PUT 200"],
      );
    } finally {
      await proxy.close();
    }
  });

  it("a stale ETag fails with PRECONDITION_FAILED after one PUT: a 412 is never retried blindly", async () => {
    const env = s3TestEnv();
    const proxy = await startFaultProxy({ target: env.endpoint });
    try {
      const store = await makeS3Store({ endpoint: proxy.endpoint });
      await store.probe();
      const v1 = await store.put("k", bytes("v1"));
      await store.put("k", bytes("v2"));
      proxy.log.length = 0;
      await assert.rejects(store.put("k", bytes("v3"), { ifMatch: v1.etag }), (e: unknown) =>
        isStoreError(e, "PRECONDITION_FAILED"),
      );
      assert.equal(proxy.count({ method: "PUT" }), 1);
      assert.equal(text((await store.get("k"))?.body), "v2");
    } finally {
      await proxy.close();
    }
  });

  it("probe on RGW: create-only and CAS honoured (unquoted ETag), conditional delete reported ignored", async () => {
    const caps = await (await makeS3Store()).probe();
    assert.equal(caps.createOnly, true, caps.notes.join("; "));
    assert.equal(caps.compareAndSwap, true, caps.notes.join("; "));
    assert.equal(caps.conditionalDelete, s3TestEnv().conditionalDelete, caps.notes.join("; "));
    if (!caps.conditionalDelete)
      assert.ok(
        caps.notes.some(
          (n) => n.startsWith("conditional delete: IGNORED") && n.includes("read-compare-delete"),
        ),
      );
  });

  it("delete with a wrong etag keeps the object even where the store ignores If-Match on DELETE", async () => {
    const store = await makeS3Store();
    for (const probed of [false, true]) {
      if (probed) await store.probe();
      const v1 = await store.put("k", bytes("v1"));
      const v2 = await store.put("k", bytes("v2"));
      await assert.rejects(store.delete("k", { ifMatch: v1.etag }), (e: unknown) =>
        isStoreError(e, "PRECONDITION_FAILED"),
      );
      assert.equal(text((await store.get("k"))?.body), "v2", `probed: ${probed}`);
      await store.delete("k", { ifMatch: v2.etag });
      assert.equal(await store.head("k"), undefined);
      // Missing: a failed condition, as for put (an unconditional delete of it is fine).
      await assert.rejects(store.delete("k", { ifMatch: v2.etag }), (e: unknown) =>
        isStoreError(e, "PRECONDITION_FAILED"),
      );
      await store.delete("k");
    }
  });
});

describe("s3 error mapping on RGW", () => {
  it("a wrong secret is E_AUTH naming the S3 code, with no secret in the message or details", async () => {
    const env = s3TestEnv();
    const secret = `wrong-${"x".repeat(30)}`;
    const store = s3Store({
      bucket: env.bucket,
      prefix: randomS3Prefix("auth"),
      endpoint: env.endpoint,
      region: env.region,
      forcePathStyle: env.forcePathStyle,
      credentials: { accessKeyId: env.credentials?.accessKeyId ?? "AKIDEXAMPLE", secretAccessKey: secret },
      maxAttempts: 3,
    });
    for (const op of [() => store.get("k"), () => store.put("k", bytes("x")), () => store.probe()]) {
      await assert.rejects(op(), (e: unknown) => {
        assert.ok(hasErrorCode(e, "E_AUTH"), String(e));
        assert.match(e.message, /SignatureDoesNotMatch|InvalidAccessKeyId|AccessDenied|HTTP 403/);
        const shown = JSON.stringify({ message: e.message, details: e.details, stack: e.stack });
        assert.ok(!shown.includes(secret), "secret in the error");
        if (env.credentials) assert.ok(!shown.includes(env.credentials.secretAccessKey));
        return true;
      });
    }
  });

  it("a missing bucket is E_NOT_FOUND saying so, on get, put and list", async () => {
    const env = s3TestEnv();
    const bucket = `no-such-bucket-${Date.now()}`;
    const store = s3Store({
      bucket,
      endpoint: env.endpoint,
      region: env.region,
      forcePathStyle: env.forcePathStyle,
      ...(env.credentials ? { credentials: env.credentials } : {}),
    });
    const missingBucket = (e: unknown) =>
      hasErrorCode(e, "E_NOT_FOUND") &&
      e.message.includes(`bucket ${bucket} does not exist`) &&
      e.details.s3Code === "NoSuchBucket";
    await assert.rejects(store.get("k"), missingBucket);
    await assert.rejects(store.put("k", bytes("x")), missingBucket);
    await assert.rejects(async () => {
      for await (const _ of store.list("")) break;
    }, missingBucket);
  });

  it("a connection cut before any answer is E_UNAVAILABLE after exactly maxAttempts attempts", async () => {
    let connections = 0;
    const server = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const store = await makeS3Store({
        endpoint: `http://127.0.0.1:${port}`,
        maxAttempts: 3,
        retryBaseDelayMs: 1,
      });
      await assert.rejects(store.head("k"), (e: unknown) => {
        assert.ok(isStoreError(e, "UNAVAILABLE"), String(e));
        assert.equal(e.retryable, true);
        assert.ok(e.cause !== undefined, "the driver error is kept as cause");
        return true;
      });
      assert.equal(connections, 3);
    } finally {
      server.close();
    }
  });

  it("errors the proxy injects are mapped by status and code: 501 → UNSUPPORTED, 500 → UNAVAILABLE", async () => {
    const proxy = await startFaultProxy({ target: s3TestEnv().endpoint });
    try {
      const store = await makeS3Store({ endpoint: proxy.endpoint, maxAttempts: 2, retryBaseDelayMs: 1 });
      proxy.failNext(1, "not-implemented");
      await assert.rejects(store.put("k", bytes("x")), (e: unknown) =>
        hasErrorCode(e, "E_UNSUPPORTED_STORE"),
      );
      assert.equal(proxy.count(), 1, "501 is not retried");
      proxy.reset();
      proxy.failNext(2, "internal-error");
      await assert.rejects(
        store.get("k"),
        (e: unknown) => isStoreError(e, "UNAVAILABLE") && e.message.includes("HTTP 500"),
      );
      assert.equal(proxy.count(), 2, "5xx retried up to maxAttempts");
    } finally {
      await proxy.close();
    }
  });
});

describe("s3 list paging (scripted client)", () => {
  /** A client whose ListObjectsV2 answers come from `pages`; `fail` makes one page throw. */
  function pagedClient(pages: string[][], fail?: { page: number; error: unknown }) {
    const seen: (string | undefined)[] = [];
    const client = {
      send: async (command: { input: { Prefix?: string; ContinuationToken?: string } }) => {
        const token = command.input.ContinuationToken;
        seen.push(token);
        const index = token === undefined ? 0 : Number(token);
        if (fail?.page === index) throw fail.error;
        const keys = pages[index] ?? [];
        const last = index === pages.length - 1;
        return {
          Contents: keys.map((k) => ({
            Key: `${command.input.Prefix?.split("/")[0]}/${k}`,
            Size: 1,
            ETag: '"e"',
          })),
          IsTruncated: !last,
          ...(last ? {} : { NextContinuationToken: String(index + 1) }),
        };
      },
    };
    return { client, seen };
  }

  it("follows continuation tokens to the end, strips the prefix and sorts by key bytes", async () => {
    const { client, seen } = pagedClient([["b", "é"], ["a", "Z"], ["c"]]);
    const store = s3Store({ bucket: "b", prefix: "root", region: "us-east-1", client: client as never });
    const keys: string[] = [];
    for await (const o of store.list("")) keys.push(o.key);
    assert.deepEqual(seen, [undefined, "1", "2"]);
    assert.deepEqual(keys, ["Z", "a", "b", "c", "é"]);
  });

  it("a page that keeps failing makes the listing throw: never a partial list", async () => {
    const error = Object.assign(new Error("boom"), {
      name: "InternalError",
      $metadata: { httpStatusCode: 500 },
    });
    const { client, seen } = pagedClient([["a"], ["b"], ["c"]], { page: 1, error });
    const store = s3Store({
      bucket: "b",
      prefix: "root",
      region: "us-east-1",
      client: client as never,
      maxAttempts: 3,
      retryBaseDelayMs: 1,
    });
    const keys: string[] = [];
    await assert.rejects(
      async () => {
        for await (const o of store.list("")) keys.push(o.key);
      },
      (e: unknown) => isStoreError(e, "UNAVAILABLE"),
    );
    assert.deepEqual(keys, [], "nothing was yielded before the failure");
    assert.deepEqual(seen, [undefined, "1", "1", "1"], "the failing page was retried maxAttempts times");
  });

  it("a truncated page without a continuation token is an error, not the end", async () => {
    const client = { send: async () => ({ Contents: [{ Key: "root/a" }], IsTruncated: true }) };
    const store = s3Store({ bucket: "b", prefix: "root", region: "us-east-1", client: client as never });
    await assert.rejects(
      async () => {
        for await (const _ of store.list("")) break;
      },
      (e: unknown) => isStoreError(e, "UNAVAILABLE") && e.message.includes("continuation token"),
    );
  });
});

describe("lazy loading", () => {
  it("importing the package root and statekeeper/s3 (and creating an s3Store) does not load @aws-sdk/client-s3", () => {
    const script = `
      const root = await import("./src/index.ts");
      const { s3Store } = await import("./src/objectstore/s3/index.ts");
      const byUrl = await root.openStore("s3://b?region=us-east-1&endpoint=http://127.0.0.1:9");
      const store = s3Store({ bucket: "b", region: "us-east-1", endpoint: "http://127.0.0.1:9" });
      console.log("root-loaded", typeof store.get, typeof byUrl.get);
      try { await store.head("k"); } catch (e) { console.log("first-request:", e.message.includes("blocked by test") || String(e.cause).includes("blocked by test")); }
    `;
    const r = spawnSync(
      process.execPath,
      [
        "--import",
        "tsx",
        "--import",
        "./test/fixtures/s3/block-aws-sdk.mjs",
        "--input-type=module",
        "-e",
        script,
      ],
      { cwd: process.cwd(), encoding: "utf8", timeout: 60_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /root-loaded function function/);
    // The hook does work: the first request is where the SDK is loaded, and it was blocked there.
    assert.match(r.stdout, /first-request: true/);
  });
});
