// Importing stacks unobin's s3state wrote into a bucket on the runner's RGW (objects put by
// test/support/unobin.ts exactly as its Go code puts them, with a plain S3 client), into
// statekeeper stacks on S3 and on the file store; the bucket's objects unchanged afterwards.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import {
  importUnobinStack,
  openUnobinStack,
  unobinEnvKeyEncrypter,
  unobinNoopEncrypter,
  verifyStack,
} from "../../src/admin/index.js";
import { createBackend } from "../../src/backend/index.js";
import { keyEncrypter } from "../../src/crypto/index.js";
import { openStore } from "../../src/objectstore/schemes.js";
import { encodeSnapshot } from "../../src/snapshot/index.js";
import { rejectsWithCode } from "../../src/testing/assertions.js";
import { ensureBuilt, newKey, sk, stackEnv, tempDir } from "../cli/helpers.js";
import { makeS3Url, randomS3Prefix, rawS3Client, s3TestEnv } from "../support/s3.js";
import {
  documentedSnapshot,
  factoryStackSnapshot,
  type GoSealing,
  goEncodeSnapshot,
  goRfc3339Nano,
  goSeal,
  moduleCallSnapshot,
  newUnobinKey,
  writeS3StateStack,
} from "../support/unobin.js";

const R1 = goRfc3339Nano("2026-06-11T09:00:00Z", 1);
const R2 = goRfc3339Nano("2026-06-11T09:00:00Z", 1).concat("_1");
const R3 = goRfc3339Nano("2026-06-11T09:05:00Z", 987_654_321);

function plaintexts() {
  return [
    { rev: R1, plaintext: goEncodeSnapshot(moduleCallSnapshot("webshop", "prod", R1)) },
    { rev: R2, plaintext: goEncodeSnapshot(documentedSnapshot("webshop", "prod", R1)) },
    { rev: R3, plaintext: goEncodeSnapshot(factoryStackSnapshot("webshop", "prod", R3)) },
  ];
}

/** Every object under `prefix` with its etag and time: what "never modified" means on S3. */
async function objectsUnder(prefix: string): Promise<string[]> {
  const { bucket } = s3TestEnv();
  const listed = await rawS3Client().send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}/` }));
  return (listed.Contents ?? [])
    .map((o) => `${o.Key} ${o.ETag} ${o.LastModified?.toISOString()} ${o.Size}`)
    .sort();
}

async function s3StateBucket(sealing: GoSealing, lockWho?: string) {
  const prefix = randomS3Prefix("unobin-s3state");
  const plain = plaintexts();
  await writeS3StateStack(
    rawS3Client(),
    s3TestEnv().bucket,
    prefix,
    "webshop",
    "prod",
    plain.map(({ rev, plaintext }) => ({ rev, sealed: goSeal(plaintext, sealing) })),
    R2,
    lockWho,
  );
  return { prefix, plain, url: makeS3Url(prefix) };
}

describe("importUnobinStack from s3state on RGW", () => {
  it("env-key in unobin's envelope, into a statekeeper stack on S3: every rev, current, round trip; the bucket's objects untouched", async () => {
    const key = newUnobinKey();
    const { prefix, plain, url } = await s3StateBucket({
      kind: "envelope-env-key",
      key,
      envVar: "UNOBIN_KEY",
      ref: true,
    });
    const before = await objectsUnder(prefix);
    assert.equal(before.length, 4, "three snapshots and current");
    const source = openUnobinStack(await openStore(url), {
      factory: "webshop",
      stack: "prod",
      encrypter: unobinEnvKeyEncrypter({ envVar: "UNOBIN_KEY", env: { UNOBIN_KEY: key } }),
    });
    const targetKey = keyEncrypter({ key: randomBytes(32) });
    const targetUrl = makeS3Url();
    const target = () =>
      openStore(targetUrl).then((store) =>
        createBackend(store, { factory: "webshop", stack: "prod", encrypter: targetKey, head: "pointer" }),
      );
    const report = await importUnobinStack(source, await target());
    assert.deepEqual(
      [report.revisions, report.imported, report.current, report.shapes, report.sealing],
      [3, 3, R2, { documented: 1, "module-call": 1, "factory-stack": 1 }, { raw: 0, envelope: 3 }],
    );
    assert.deepEqual(await objectsUnder(prefix), before);
    const imported = await target();
    assert.deepEqual(await imported.list(), [R1, R2, R3]);
    assert.equal(await imported.currentRev(), R2);
    for (const { rev, plaintext } of plain) {
      const snapshot = await imported.get(rev);
      const original = new TextDecoder().decode(plaintext);
      if (snapshot.document !== undefined) assert.equal(snapshot.document.text, original);
      else
        assert.deepEqual(
          JSON.parse(new TextDecoder().decode(encodeSnapshot(snapshot))),
          JSON.parse(original),
        );
    }
    assert.equal((await verifyStack(imported)).ok, true);
    const again = await importUnobinStack(source, await target());
    assert.deepEqual([again.imported, again.alreadyPresent], [0, 3]);
  });

  it("a held s3state lock is refused naming who holds it since when; nothing is written", async () => {
    const { url } = await s3StateBucket({ kind: "raw-noop" }, "alice@ci-runner-7");
    const source = openUnobinStack(await openStore(url), {
      factory: "webshop",
      stack: "prod",
      encrypter: unobinNoopEncrypter(),
    });
    const targetUrl = makeS3Url();
    const target = createBackend(await openStore(targetUrl), {
      factory: "webshop",
      stack: "prod",
      encrypter: keyEncrypter({ key: randomBytes(32) }),
      head: "pointer",
    });
    const err = await rejectsWithCode(importUnobinStack(source, target), "E_LOCKED");
    assert.match(
      err.message,
      /held by "alice@ci-runner-7" since "2026-06-11T09:30:00\.5Z" \(unobin s3state lock marker\)/,
    );
    assert.deepEqual(await target.list(), []);
  });

  it("statekeeper import --from s3://… (raw env-key) into a local folder, and --layout unobin on the bucket, with the real binary", async () => {
    await ensureBuilt();
    const key = newUnobinKey();
    const { url, plain } = await s3StateBucket({ kind: "raw-env-key", key });
    const cwd = tempDir("unobin-s3-cli");
    const K = newKey();
    const env = stackEnv({ UNOBIN_KEY: key, K });
    const run = await sk(
      ["import", "--from", url, "--from-key-env", "UNOBIN_KEY", "--key-env", "K", "--json"],
      {
        cwd,
        env,
      },
    );
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout).sealing, { raw: 3, envelope: 0 });
    const pulled = await sk(["pull", R3], { cwd, env: stackEnv({ STATEKEEPER_KEY: K }) });
    assert.equal(pulled.stdout, new TextDecoder().decode(plain[2]?.plaintext));
    // The bucket read in place, before any import: the same history.
    const inPlace = await sk(
      ["--store", url, "--layout", "unobin", "--unobin-key-env", "UNOBIN_KEY", "history", "--json"],
      {
        cwd,
        env,
      },
    );
    assert.equal(inPlace.code, 0, inPlace.stderr);
    const h = JSON.parse(inPlace.stdout);
    assert.deepEqual(
      [h.current, h.revisions.map((r: { rev: string; entries: number }) => [r.rev, r.entries])],
      [
        R2,
        [
          [R1, 3],
          [R2, 2],
          [R3, 3],
        ],
      ],
    );
  });
});
