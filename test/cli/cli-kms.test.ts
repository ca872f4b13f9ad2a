// --kms-key-id against the local KMS test server: seal with KMS, rotate to a key and back.
import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { KMS_TEST_CREDENTIALS, type KmsServer, startKmsServer } from "../support/kms-server.js";
import { ensureBuilt, newKey, sk, stackEnv, tempDir, V1, V2 } from "./helpers.js";

let kms: KmsServer;
before(async () => {
  await ensureBuilt();
  kms = await startKmsServer();
});
after(() => kms.close());

it("seals with a KMS key, rekeys KMS → key → KMS, and names the KMS key when it is missing", async () => {
  kms.createKey({ alias: "alias/state" });
  const cwd = tempDir("kms");
  const K = newKey();
  const env = stackEnv({
    K,
    AWS_ACCESS_KEY_ID: KMS_TEST_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: KMS_TEST_CREDENTIALS.secretAccessKey,
  });
  const viaKms = ["--kms-key-id", "alias/state", "--kms-endpoint", kms.endpoint, "--kms-region", kms.region];
  for (const f of [V1, V2]) {
    const r = await sk(["push", f, ...viaKms], { cwd, env });
    assert.equal(r.code, 0, r.stderr);
  }
  const v = await sk(["verify", "--json", ...viaKms], { cwd, env });
  assert.equal(v.code, 0, v.stderr);
  const [kmsKeyId] = Object.keys(JSON.parse(v.stdout).sealedWith);
  assert.match(kmsKeyId ?? "", /^kms:/);

  const withoutKms = await sk(["show", "--key-env", "K"], { cwd, env });
  assert.equal(withoutKms.code, 5);
  assert.ok(withoutKms.stderr.includes(`sealed with ${kmsKeyId}`), withoutKms.stderr);

  // The first key option given is the primary, whatever its kind.
  const toKey = await sk(["rekey", "--key-env", "K", ...viaKms, "--json"], { cwd, env });
  assert.equal(toKey.code, 0, toKey.stderr);
  assert.equal(JSON.parse(toKey.stdout).resealed, 2);
  assert.equal((await sk(["verify", "--key-env", "K"], { cwd, env })).code, 0);

  const back = await sk(["rekey", ...viaKms, "--key-env", "K", "--json"], { cwd, env });
  assert.equal(back.code, 0, back.stderr);
  assert.equal(JSON.parse(back.stdout).primary, kmsKeyId);
  const pulled = await sk(["pull", ...viaKms], { cwd, env });
  assert.equal(pulled.code, 0, pulled.stderr);
  for (const r of [v, withoutKms, toKey, back, pulled]) {
    assert.ok(!(r.stdout + r.stderr).includes(KMS_TEST_CREDENTIALS.secretAccessKey));
    assert.ok(!(r.stdout + r.stderr).includes(K));
    // The AWS SDK's "will require Node 22" banner is not shown to statekeeper users.
    assert.doesNotMatch(r.stderr, /NodeVersionSupportWarning|will require node/, r.stderr);
  }
});
