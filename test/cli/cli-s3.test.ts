// migrate file → S3 → file with the real binary: identical rev names, contents and current.
// The S3 server comes from the test runner's environment (makeS3Url throws when it is unset).
import assert from "node:assert/strict";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { makeS3Store, makeS3Url, randomS3Prefix } from "../support/s3.js";
import { factoryPathRoundTrip } from "./factory-path.js";
import { ensureBuilt, newKey, pointerEnv, sk, tempDir, V1, V2 } from "./helpers.js";

before(ensureBuilt);

interface History {
  current: string;
  revisions: Array<{ rev: string; entries: number }>;
}

describe("statekeeper on S3", () => {
  it("a factory named like a module path is pushed, listed and read back, under one encoded key segment", async () => {
    const prefix = randomS3Prefix("factory-path");
    const store = await makeS3Store({ prefix });
    await factoryPathRoundTrip(makeS3Url(prefix), async () => {
      const keys: string[] = [];
      for await (const o of store.list("")) keys.push(o.key);
      return keys;
    });
  });

  it("migrate file → S3 → file keeps every rev name, content and the current pointer", async () => {
    const cwd = tempDir("s3");
    const s3 = makeS3Url();
    const back = pathToFileURL(join(tempDir("s3-back"), "state")).href;
    const K = newKey();
    // Stacks with a current pointer keep their revision names across stores (a log renumbers).
    const env = pointerEnv({ K, STATEKEEPER_KEY: K });
    for (const f of [V1, V2, V1]) {
      const r = await sk(["push", f], { cwd, env });
      assert.equal(r.code, 0, r.stderr);
    }
    const rolled = await sk(["rollback", "--to", "current~1"], { cwd, env });
    assert.equal(rolled.code, 0, rolled.stderr);

    const up = await sk(["migrate", "--to", s3, "--json"], { cwd, env });
    assert.equal(up.code, 0, up.stderr);
    assert.equal(JSON.parse(up.stdout).copied, 4);
    const down = await sk(["--store", s3, "migrate", "--to", back, "--json"], { cwd, env });
    assert.equal(down.code, 0, down.stderr);

    const histories: History[] = [];
    for (const store of ["file:./.statekeeper", s3, back]) {
      const h = await sk(["--store", store, "history", "--json"], { cwd, env });
      assert.equal(h.code, 0, h.stderr);
      histories.push(JSON.parse(h.stdout));
    }
    const [local, remote, returned] = histories as [History, History, History];
    assert.equal(local.revisions.length, 4);
    assert.deepEqual(
      remote.revisions.map((r) => r.rev),
      local.revisions.map((r) => r.rev),
    );
    assert.deepEqual(
      returned.revisions.map((r) => r.rev),
      local.revisions.map((r) => r.rev),
    );
    assert.equal(remote.current, local.current);
    assert.equal(returned.current, local.current);
    for (const { rev } of local.revisions) {
      const [a, b, c] = await Promise.all(
        ["file:./.statekeeper", s3, back].map((store) => sk(["--store", store, "pull", rev], { cwd, env })),
      );
      assert.equal(b?.stdout, a?.stdout, `S3 copy of ${rev}`);
      assert.equal(c?.stdout, a?.stdout, `round-tripped copy of ${rev}`);
    }

    const verify = await sk(["--store", s3, "verify", "--json"], { cwd, env });
    assert.equal(verify.code, 0, verify.stdout);
    const probe = await sk(["probe", s3, "--json"], { cwd });
    assert.equal(probe.code, 0, probe.stderr);
    assert.equal(JSON.parse(probe.stdout).supported, true);
    const stacks = JSON.parse((await sk(["--store", s3, "stacks", "--json"], { cwd })).stdout);
    assert.deepEqual(
      stacks.stacks.map((s: { factory: string; stack: string; revisions: number }) => [
        s.factory,
        s.stack,
        s.revisions,
      ]),
      [["webshop", "prod", 4]],
    );
  });
});
