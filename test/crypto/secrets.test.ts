import { after, before, test } from "node:test";
import { KMSClient } from "@aws-sdk/client-kms";
import {
  awsKmsEncrypter,
  generateKey,
  inspectEnvelope,
  keyEncrypter,
  keyring,
  noopEncrypter,
  passphraseEncrypter,
} from "../../src/crypto/index.js";
import type { StateKeeperError } from "../../src/errors.js";
import { KMS_TEST_CREDENTIALS, type KmsServer, startKmsServer } from "../support/kms-server.js";
import { assertNoSecrets, LOCATION, OTHER_REV, rejection, TEST_COST, text, thrown } from "./helpers.js";

// Distinctive values: any appearance in an error is a leak, not a coincidence.
const KEY_A = generateKey();
const KEY_B = generateKey();
const PASSPHRASE_A = "correct horse battery staple: sesame-7f3a";
const PASSPHRASE_B = "another passphrase entirely: sesame-91c2";
const SECRET_VALUE = "db-password-hunter2-4d1e";
const PLAINTEXT = text(`{"entries":[{"address":"db","password":"${SECRET_VALUE}"}]}`);
const SECRETS = [
  KEY_A,
  KEY_B,
  Buffer.from(KEY_A, "base64").toString("hex"),
  Buffer.from(KEY_B, "base64").toString("hex"),
  PASSPHRASE_A,
  PASSPHRASE_B,
  "sesame",
  SECRET_VALUE,
  KMS_TEST_CREDENTIALS.secretAccessKey,
];

let kms: KmsServer;
let client: KMSClient;
before(async () => {
  kms = await startKmsServer();
  client = new KMSClient({
    endpoint: kms.endpoint,
    region: kms.region,
    credentials: KMS_TEST_CREDENTIALS,
    maxAttempts: 1,
  });
});
after(async () => {
  client.destroy();
  await kms.close();
});

test("no error path puts a key, passphrase, credential or plaintext in message, details or cause chain", async () => {
  const errors: StateKeeperError[] = [];
  const collect = async (p: Promise<unknown>) => errors.push(await rejection(p));
  const env = (name: string, value: string) => keyEncrypter({ envVar: name, env: { [name]: value } });

  // configuration errors
  errors.push(thrown(() => env("K", `${KEY_A}!`)));
  errors.push(thrown(() => env("K", KEY_A.slice(0, 20))));
  errors.push(thrown(() => env("K", Buffer.from(`${KEY_A}${KEY_A}`).toString("base64"))));
  errors.push(thrown(() => keyEncrypter({ key: Buffer.from(KEY_A, "base64").subarray(1) })));
  errors.push(thrown(() => passphraseEncrypter({ passphrase: "sesame-short" })));
  errors.push(thrown(() => passphraseEncrypter({ passphrase: PASSPHRASE_A, cost: 3 })));

  const a = env("KEY_A", KEY_A);
  const b = env("KEY_B", KEY_B);
  const pa = passphraseEncrypter({ passphrase: PASSPHRASE_A, cost: TEST_COST });
  const pb = passphraseEncrypter({ passphrase: PASSPHRASE_B, cost: TEST_COST });
  const kmsKey = kms.createKey();
  const ka = awsKmsEncrypter({ keyId: kmsKey.arn, client });
  const all = [a, b, pa, pb, ka, noopEncrypter()];

  for (const sealer of all) {
    const sealed = await sealer.seal(PLAINTEXT, LOCATION);
    for (const reader of all) if (reader !== sealer) await collect(reader.open(sealed, LOCATION));
    await collect(sealer.open(sealed, OTHER_REV));
    await collect(sealer.open(sealed.subarray(0, sealed.length - 1), LOCATION));
    const flipped = Uint8Array.from(sealed);
    flipped[flipped.length - 1]! ^= 1;
    await collect(sealer.open(flipped, LOCATION));
    if (sealer !== b) await collect(keyring(b).open(sealed, LOCATION));
  }
  // the reader failing over KMS (fresh instance, nothing cached)
  const kmsSealed = await ka.seal(PLAINTEXT, LOCATION);
  await collect(awsKmsEncrypter({ keyId: kmsKey.arn, client }).open(kmsSealed, OTHER_REV));
  kms.denyAccess(kmsKey.arn);
  await collect(awsKmsEncrypter({ keyId: kmsKey.arn, client }).open(kmsSealed, LOCATION));
  await collect(ka.seal(PLAINTEXT, LOCATION));
  await collect(awsKmsEncrypter({ keyId: "alias/missing", client }).seal(PLAINTEXT, LOCATION));
  errors.push(thrown(() => inspectEnvelope(PLAINTEXT)));

  if (errors.length < 40) throw new Error(`expected many error paths, exercised ${errors.length}`);
  for (const error of errors) assertNoSecrets(error, SECRETS);
});
