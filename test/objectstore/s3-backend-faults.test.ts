// The backend on the S3 test server, through the fault proxy: SSE-KMS on every object the
// backend writes, commits that complete under throttling, and lost responses to the lock,
// snapshot and `current` writes that leave no duplicate, no lost commit and no stuck lock.
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { HeadObjectCommand } from "@aws-sdk/client-s3";
import { type Backend, createBackend, type HeadMode } from "../../src/backend/index.js";
import { noopEncrypter } from "../../src/crypto/index.js";
import { currentStamp, FACTORY, stampedSnapshot } from "../fixtures/backend/common.js";
import { type FaultProxy, startFaultProxy } from "../support/fault-proxy.js";
import { makeS3Store, randomS3Prefix, rawS3Client, s3TestEnv } from "../support/s3.js";

let proxy: FaultProxy;
before(async () => {
  proxy = await startFaultProxy({ target: s3TestEnv().endpoint });
});
after(() => proxy.close());
beforeEach(() => proxy.reset());

/**
 * A stack through the fault proxy: by default with a current pointer, whose lock object and
 * `current` these tests fault (the log's faults are in the backend conformance suite on RGW).
 */
async function openStack(
  opts: { kmsKeyId?: string; head?: HeadMode } = {},
): Promise<{ backend: Backend; prefix: string }> {
  const { head = "pointer", ...storeOpts } = opts;
  const prefix = randomS3Prefix("backend-faults");
  const store = await makeS3Store({
    prefix,
    endpoint: proxy.endpoint,
    maxAttempts: 4,
    retryBaseDelayMs: 5,
    ...storeOpts,
  });
  return {
    backend: createBackend(store, { factory: FACTORY, stack: "s", encrypter: noopEncrypter(), head }),
    prefix,
  };
}

/** Commits current+1 under the lock; returns the new rev. */
async function commitNext(backend: Backend, tag: string): Promise<string> {
  const seen = await currentStamp(backend);
  return backend.commit(
    stampedSnapshot(
      "s",
      { seq: (seen?.stamp.seq ?? 0) + 1, parent: seen?.rev ?? "", writer: process.pid, tag },
      32,
    ),
  );
}

async function headSse(key: string) {
  const out = await rawS3Client().send(new HeadObjectCommand({ Bucket: s3TestEnv().bucket, Key: key }));
  return { sse: out.ServerSideEncryption, keyId: out.SSEKMSKeyId };
}

describe("SSE-KMS on every object the backend writes", () => {
  for (const kms of [true, false]) {
    it(
      kms
        ? "kmsKeyId set: snapshots, lock, current, log entries, hint and probe objects all use aws:kms with the key"
        : "kmsKeyId unset: no object asks for encryption",
      async () => {
        const kmsKeyId = kms ? s3TestEnv().kmsKeyId : undefined;
        if (kms) assert.ok(kmsKeyId, "STATEKEEPER_TEST_S3_KMS_KEY_ID must be set");
        const { backend, prefix } = await openStack(kmsKeyId ? { kmsKeyId } : {});
        const lock = await backend.lock({ operation: "sse" });
        await commitNext(backend, "one");
        await commitNext(backend, "two");
        const base = `${prefix}/${FACTORY}/s`;
        const expected = kmsKeyId
          ? { sse: "aws:kms", keyId: kmsKeyId }
          : { sse: undefined, keyId: undefined };
        assert.deepEqual(await headSse(`${base}/lock`), expected, "lock");
        await lock.unlock();
        assert.deepEqual(await headSse(`${base}/current`), expected, "current");
        for (const rev of await backend.list())
          assert.deepEqual(await headSse(`${base}/snapshots/${rev}.json.enc`), expected, rev);
        // A stack headed by its log (the default head): its hint and every entry alike.
        const logged = (await openStack({ ...(kmsKeyId ? { kmsKeyId } : {}), head: "log" })).backend;
        await (await logged.lock({ operation: "sse" })).unlock();

        const puts = proxy.log.filter((e) => e.method === "PUT");
        for (const kind of [
          /\.statekeeper-probe/,
          /\/lock\?/,
          /\/current\?/,
          /\/snapshots\//,
          /\/log\/\d{16}\/\d{16}\?/,
          /\/s\/head\?/,
        ])
          assert.ok(
            puts.some((p) => kind.test(p.path)),
            `a PUT matching ${kind}`,
          );
        for (const put of puts) {
          assert.equal(
            put.headers["x-amz-server-side-encryption"],
            kmsKeyId ? "aws:kms" : undefined,
            put.path,
          );
          assert.equal(put.headers["x-amz-server-side-encryption-aws-kms-key-id"], kmsKeyId, put.path);
        }
      },
    );
  }
});

describe("backend commits under injected faults", () => {
  it("503 SlowDown and 429 on every 3rd/5th request: lock, 5 commits and unlock complete, nothing lost", async () => {
    const { backend } = await openStack();
    proxy.failEvery(3, "slowdown");
    proxy.failEvery(5, "too-many-requests");
    proxy.latency = { minMs: 0, maxMs: 10 };
    const lock = await backend.lock({ operation: "throttled", timeoutMs: 30_000 });
    for (let i = 1; i <= 5; i++) await commitNext(backend, `c${i}`);
    assert.equal(await lock.unlock(), true);
    proxy.reset();
    assert.equal((await currentStamp(backend))?.stamp.seq, 5);
    assert.equal((await backend.list()).length, 5, "no duplicate revision");
    assert.equal(await backend.lockInfo(), undefined);
  });

  it("the lock PUT is applied but its response lost: recognised as ours, and unlock releases it", async () => {
    const { backend } = await openStack();
    proxy.dropResponse({ method: "PUT", path: /\/lock\?/ });
    const lock = await backend.lock({ operation: "dropped", timeoutMs: 10_000 });
    assert.equal(
      proxy.log.filter((e) => e.fault === "dropped-response").length,
      1,
      "the response was dropped",
    );
    assert.equal((await backend.lockInfo())?.id, lock.id, "the stored lock is this handle's");
    await commitNext(backend, "after-drop");
    assert.equal(await lock.unlock(), true);
    assert.equal(await backend.lockInfo(), undefined);
  });

  it("lost responses to the snapshot write and to setCurrent: no duplicate revision, no lost commit", async () => {
    const { backend } = await openStack();
    const lock = await backend.lock({ operation: "dropped", timeoutMs: 10_000 });
    await commitNext(backend, "c1");
    proxy.dropResponse({ method: "PUT", path: /\/snapshots\// });
    const rev2 = await commitNext(backend, "c2");
    proxy.dropResponse({ method: "PUT", path: /\/current\?/ });
    const rev3 = await commitNext(backend, "c3");
    assert.equal(proxy.log.filter((e) => e.fault === "dropped-response").length, 2);
    await commitNext(backend, "c4"); // the fence continues from the dropped setCurrent: not FencedError
    await lock.unlock();
    const revs = await backend.list();
    assert.equal(revs.length, 4, `one revision per commit: ${revs.join(", ")}`);
    assert.ok(revs.includes(rev2) && revs.includes(rev3));
    assert.equal((await currentStamp(backend))?.stamp.seq, 4);
  });

  it("the unlock DELETE is applied but its response lost: a waiter's fresh lock is never deleted by a retry", async () => {
    // The holder's DELETE lands, the waiter polling every 2 ms creates its lock at once, and the
    // holder learns nothing: re-sending the DELETE would remove the waiter's lock.
    for (let round = 0; round < 5; round++) {
      const { backend, prefix } = await openStack();
      const waiter = createBackend(await makeS3Store({ prefix, retryBaseDelayMs: 5 }), {
        factory: FACTORY,
        stack: "s",
        encrypter: noopEncrypter(),
        head: "pointer",
      });
      const held = await backend.lock({ operation: "holder" });
      const waiting = waiter.lock({ operation: "waiter", pollMs: 2, timeoutMs: 20_000 });
      proxy.dropResponse({ method: "DELETE", path: /\/lock(\?|$)/ });
      proxy.latency = { minMs: 30, maxMs: 30 }; // the waiter's create lands before the retry
      await held.unlock().catch(() => false);
      const successor = await waiting;
      proxy.reset();
      assert.equal(
        (await waiter.lockInfo())?.id,
        successor.id,
        `round ${round}: the successor's lock is still there`,
      );
      await commitNext(waiter, `after-${round}`);
      assert.equal(await successor.unlock(), true);
    }
  });
});
