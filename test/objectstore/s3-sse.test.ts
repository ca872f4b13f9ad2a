// SSE-KMS on the real server: with kmsKeyId every PUT (plain, create-only, compare-and-swap and
// the probe's own objects) asks for aws:kms with that key, and HEAD reports it; without it, none.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { HeadObjectCommand } from "@aws-sdk/client-s3";
import { type FaultProxy, startFaultProxy } from "../support/fault-proxy.js";
import { makeS3Store, randomS3Prefix, rawS3Client, s3TestEnv } from "../support/s3.js";

const bytes = (s: string) => new TextEncoder().encode(s);
const kmsKeyId = () => {
  const id = s3TestEnv().kmsKeyId;
  assert.ok(id, "STATEKEEPER_TEST_S3_KMS_KEY_ID must name a KMS key the endpoint can use");
  return id;
};

let proxy: FaultProxy;
before(async () => {
  proxy = await startFaultProxy({ target: s3TestEnv().endpoint });
});
after(() => proxy.close());

async function headEncryption(key: string) {
  const env = s3TestEnv();
  const out = await rawS3Client().send(new HeadObjectCommand({ Bucket: env.bucket, Key: key }));
  return { sse: out.ServerSideEncryption, keyId: out.SSEKMSKeyId };
}

/** Writes through every kind of PUT the driver makes, including the probe's. */
async function writeEverything(kms: string | undefined) {
  const prefix = randomS3Prefix("sse");
  const store = await makeS3Store({ prefix, endpoint: proxy.endpoint, ...(kms ? { kmsKeyId: kms } : {}) });
  proxy.reset();
  await store.probe();
  await store.put("plain", bytes("plain"));
  const created = await store.put("created", bytes("created"), { ifNoneMatch: "*" });
  await store.put("created", bytes("swapped"), { ifMatch: created.etag });
  assert.equal(new TextDecoder().decode((await store.get("created"))?.body), "swapped");
  const puts = proxy.log.filter((e) => e.method === "PUT");
  return { prefix, puts };
}

describe("SSE-KMS", () => {
  it("kmsKeyId set: every PUT asks for aws:kms with the key, and HEAD reports both", async () => {
    const kms = kmsKeyId();
    const { prefix, puts } = await writeEverything(kms);
    assert.ok(
      puts.some((e) => e.path.includes(".statekeeper-probe")),
      "the probe's PUTs are included",
    );
    assert.ok(puts.length >= 7);
    for (const put of puts) {
      assert.equal(put.headers["x-amz-server-side-encryption"], "aws:kms", put.path);
      assert.equal(put.headers["x-amz-server-side-encryption-aws-kms-key-id"], kms, put.path);
    }
    for (const key of ["plain", "created"])
      assert.deepEqual(await headEncryption(`${prefix}/${key}`), { sse: "aws:kms", keyId: kms }, key);
  });

  it("kmsKeyId unset: no PUT asks for server-side encryption, and HEAD reports none", async () => {
    const { prefix, puts } = await writeEverything(undefined);
    assert.ok(puts.length >= 7);
    for (const put of puts)
      assert.ok(
        !Object.keys(put.headers).some((h) => h.startsWith("x-amz-server-side-encryption")),
        `${put.path} carried SSE headers`,
      );
    for (const key of ["plain", "created"])
      assert.deepEqual(await headEncryption(`${prefix}/${key}`), { sse: undefined, keyId: undefined }, key);
  });

  it("objects written with SSE-KMS read back unchanged through a store without the option", async () => {
    const prefix = randomS3Prefix("sse-read");
    const body = new Uint8Array(Array.from({ length: 4096 }, (_, i) => i % 251));
    await (await makeS3Store({ prefix, kmsKeyId: kmsKeyId() })).put("blob", body);
    assert.deepEqual((await (await makeS3Store({ prefix })).get("blob"))?.body, body);
  });
});
