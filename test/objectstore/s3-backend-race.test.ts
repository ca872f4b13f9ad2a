// 8 processes racing lock() on one stack through the S3 test server: an observer outside the
// lock protocol proves no two holders overlap, and every holder's commit lands (no lost update).
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { createBackend } from "../../src/backend/index.js";
import { noopEncrypter } from "../../src/crypto/index.js";
import { currentStamp, FACTORY } from "../fixtures/backend/common.js";
import { checkAlternation, startWorker } from "../fixtures/backend/spawn.js";
import { makeS3Store, randomS3Prefix } from "../support/s3.js";

const observer = mkdtempSync(join(tmpdir(), "statekeeper-s3-race-"));
after(() => rmSync(observer, { recursive: true, force: true }));

interface RaceResult {
  pid: number;
  acquisitions: string[];
  violations: string[];
  fenced: number;
  notReleased: number;
}

test("8 processes × 5 rounds racing lock() on one S3 stack: never two holders, 40 commits, no lost update", async () => {
  const prefix = randomS3Prefix("race");
  const processes = 8;
  const rounds = 5;
  const workers = Array.from({ length: processes }, () =>
    startWorker("../s3/lock-race.ts", [prefix, "race", observer, String(rounds)]),
  );
  await Promise.all(workers.map((w) => w.waitFor("ready")));
  for (const w of workers) w.send("go");
  const results = await Promise.all(workers.map((w) => w.result<RaceResult>()));

  assert.deepEqual(
    results.flatMap((r) => r.violations),
    [],
    "no holder found another holder's marker",
  );
  const acquires = checkAlternation(readFileSync(join(observer, "log"), "utf8"));
  assert.equal(acquires.length, processes * rounds);
  for (const r of results) {
    assert.equal(r.acquisitions.length, rounds);
    assert.equal(r.fenced, 0, "a holder of the lock is never fenced");
    assert.equal(r.notReleased, 0, "every unlock removed the holder's own lock");
  }
  assert.equal(
    new Set(results.flatMap((r) => r.acquisitions)).size,
    processes * rounds,
    "every lock id is fresh",
  );

  const backend = createBackend(await makeS3Store({ prefix }), {
    factory: FACTORY,
    stack: "race",
    encrypter: noopEncrypter(),
  });
  assert.equal(
    (await currentStamp(backend))?.stamp.seq,
    processes * rounds,
    "each holder committed current+1",
  );
  assert.equal((await backend.list()).length, processes * rounds, "one revision per commit");
  assert.equal(await backend.lockInfo(), undefined, "the lock is free at the end");
});
