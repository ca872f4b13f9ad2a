import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { KMSClient } from "@aws-sdk/client-kms";
import {
  awsKmsEncrypter,
  type Encrypter,
  generateKey,
  inspectEnvelope,
  keyEncrypter,
  noopEncrypter,
  passphraseEncrypter,
} from "../../src/crypto/index.js";
import { KMS_TEST_CREDENTIALS, type KmsServer, startKmsServer } from "../support/kms-server.js";
import { indexOfBytes, LOCATION, OTHER_REV, OTHER_STACK, rejection, TEST_COST, text } from "./helpers.js";

let kms: KmsServer;
let kmsClient: KMSClient;
before(async () => {
  kms = await startKmsServer();
  kmsClient = new KMSClient({
    endpoint: kms.endpoint,
    region: kms.region,
    credentials: KMS_TEST_CREDENTIALS,
    maxAttempts: 1,
  });
});
after(async () => {
  kmsClient.destroy();
  await kms.close();
});

interface Subject {
  name: string;
  encrypts: boolean;
  make(): Encrypter;
  /** What a wrong-key error must name: the sealing key id, and its hint when there is one. */
  names(sealer: Encrypter): string[];
}

const subjects: Subject[] = [
  { name: "noop", encrypts: false, make: () => noopEncrypter(), names: () => ["noop"] },
  {
    name: "key (env)",
    encrypts: true,
    make: () =>
      keyEncrypter({ envVar: "STATEKEEPER_TEST_KEY", env: { STATEKEEPER_TEST_KEY: generateKey() } }),
    names: (e) => [e.keyId, "env STATEKEEPER_TEST_KEY"],
  },
  {
    name: "passphrase",
    encrypts: true,
    make: () =>
      passphraseEncrypter({ passphrase: `a long test passphrase ${generateKey()}`, cost: TEST_COST }),
    names: (e) => [e.keyId],
  },
  {
    name: "aws kms",
    encrypts: true,
    make: () => awsKmsEncrypter({ keyId: kms.createKey().arn, client: kmsClient }),
    names: (e) => [e.keyId],
  },
];

const PLAINTEXT = text('{"format-version":1,"entries":[{"address":"db","password":"hunter2-very-secret"}]}');

for (const subject of subjects) {
  describe(`${subject.name} encrypter`, () => {
    test("round trip: empty, small and 1 MiB inputs; the input is not mutated", async () => {
      const e = subject.make();
      const big = new Uint8Array(1024 * 1024).map((_, i) => (i * 31) & 0xff);
      for (const input of [new Uint8Array(0), PLAINTEXT, big]) {
        const copy = Uint8Array.from(input);
        const sealed = await e.seal(input, LOCATION);
        assert.deepEqual(input, copy);
        assert.deepEqual(await e.open(sealed, LOCATION), input);
        assert.equal(inspectEnvelope(sealed).keyId, e.keyId);
      }
    });

    test("sealing the same input twice gives different bytes", async () => {
      const e = subject.make();
      const a = await e.seal(PLAINTEXT, LOCATION);
      const b = await e.seal(PLAINTEXT, LOCATION);
      assert.notDeepEqual(a, b);
      assert.deepEqual(await e.open(a, LOCATION), await e.open(b, LOCATION));
    });

    test("every single-bit flip of a small sealed file is refused", async () => {
      const e = subject.make();
      const sealed = await e.seal(text("tiny"), LOCATION);
      for (let bit = 0; bit < sealed.length * 8; bit++) {
        const flipped = Uint8Array.from(sealed);
        flipped[bit >> 3]! ^= 1 << (bit & 7);
        await rejection(e.open(flipped, LOCATION), "E_CORRUPT", "E_DECRYPT", "E_FORMAT_VERSION");
      }
    });

    test("a truncation at every length is refused", async () => {
      const e = subject.make();
      const sealed = await e.seal(text("tiny"), LOCATION);
      for (let length = 0; length < sealed.length; length++) {
        await rejection(e.open(sealed.subarray(0, length), LOCATION), "E_CORRUPT", "E_DECRYPT");
      }
    });

    test("a file moved to another stack or rev does not open", async () => {
      const e = subject.make();
      const sealed = await e.seal(PLAINTEXT, LOCATION);
      for (const elsewhere of [OTHER_STACK, OTHER_REV, "", `${LOCATION} `]) {
        await rejection(e.open(sealed, elsewhere), "E_DECRYPT");
      }
      // A fresh instance has no cached data key: for KMS this exercises the EncryptionContext check.
      await rejection(subject.make().open(sealed, OTHER_STACK), "E_DECRYPT");
      assert.deepEqual(await e.open(sealed, LOCATION), PLAINTEXT);
    });

    if (subject.encrypts) {
      test("a wrong key fails with E_DECRYPT naming the key that sealed the file", async () => {
        const sealer = subject.make();
        const reader = subject.make();
        const sealed = await sealer.seal(PLAINTEXT, LOCATION);
        const error = await rejection(reader.open(sealed, LOCATION), "E_DECRYPT");
        for (const name of subject.names(sealer)) assert.ok(error.message.includes(name), error.message);
        assert.equal(error.details.sealedWith, sealer.keyId);
      });

      test("stored bytes contain no plaintext", async () => {
        const sealed = await subject.make().seal(PLAINTEXT, LOCATION);
        assert.equal(indexOfBytes(sealed, text("hunter2")), -1);
        assert.equal(indexOfBytes(sealed, text("format-version")), -1);
      });
    }
  });
}

test("nonces never repeat over 100 000 seals", async () => {
  const e = keyEncrypter({ key: new Uint8Array(32).fill(7) });
  const nonces = new Set<string>();
  const input = text("x");
  for (let i = 0; i < 100_000; i++) {
    const { nonce } = inspectEnvelope(await e.seal(input, LOCATION));
    assert.ok(nonce !== undefined && !nonces.has(nonce), `nonce repeated after ${i} seals`);
    nonces.add(nonce);
  }
  assert.equal(nonces.size, 100_000);
});

test("an encrypter refuses an unencrypted envelope that claims its key id (no downgrade)", async () => {
  const key = keyEncrypter({ key: new Uint8Array(32).fill(1) });
  const forged = await noopEncrypter().seal(PLAINTEXT, LOCATION);
  const asNoop = inspectEnvelope(forged);
  assert.equal(asNoop.algorithm, "none");
  await rejection(key.open(forged, LOCATION), "E_DECRYPT");
  const pass = passphraseEncrypter({ passphrase: "x".repeat(16), cost: TEST_COST });
  await rejection(pass.open(forged, LOCATION), "E_DECRYPT");
});
