import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type RekeyPhase, rekeyStack, verifyStack } from "../../src/admin/index.js";
import { keyring, noopEncrypter, passphraseEncrypter } from "../../src/crypto/index.js";
import type { Encrypter } from "../../src/crypto/types.js";
import { commitRevisions, newKey, open, recorder, rejectsWith, STORES } from "./support.js";

/** An encrypter without `sealingKeyMatches`, counting its seals. */
function counting(inner: Encrypter): Encrypter & { seals: number } {
  const wrapper = {
    seals: 0,
    keyId: inner.keyId,
    readableKeyIds: inner.readableKeyIds,
    seal(plaintext: Uint8Array, location: string) {
      wrapper.seals++;
      return inner.seal(plaintext, location);
    },
    open: (sealed: Uint8Array, location: string) => inner.open(sealed, location),
  };
  return wrapper;
}

for (const { name, make } of STORES) {
  describe(`rekeyStack (${name} store)`, () => {
    it("re-seals history with the primary key; the new key alone then verifies it; a re-run changes nothing", async () => {
      const store = make();
      const oldKey = newKey();
      const nextKey = newKey();
      const revs = await commitRevisions(open(store, oldKey), 3);
      const { events, onProgress } = recorder<RekeyPhase>();
      const report = await rekeyStack(open(store, keyring(nextKey, oldKey)), { onProgress });
      assert.deepEqual(report, {
        primary: nextKey.keyId,
        revisions: 3,
        resealed: 3,
        before: { [oldKey.keyId]: 3 },
        after: { [nextKey.keyId]: 3 },
        failed: [],
        alreadyOnPrimary: 0,
        chunks: { chunks: 0, resealed: 0, failed: [] },
      });
      assert.deepEqual(events, [
        { phase: "resealing", done: 0, total: 3 },
        ...revs.map((rev, i) => ({ phase: "resealing", done: i + 1, total: 3, rev })),
      ]);
      const verified = await verifyStack(open(store, nextKey));
      assert.equal(verified.ok, true, JSON.stringify(verified.problems));
      assert.deepEqual(verified.sealedWith, { [nextKey.keyId]: 3 });
      await rejectsWith(open(store, oldKey).current(), "E_DECRYPT");

      const again = await rekeyStack(open(store, nextKey));
      assert.deepEqual([again.resealed, again.alreadyOnPrimary], [0, 3]);
      assert.equal(await open(store).lockInfo(), undefined, "the lock is released");
    });

    it("knows a revision is already on the sealing key without sealing anything to find out", async () => {
      const store = make();
      const key = counting(newKey());
      await commitRevisions(open(store, key), 2);
      const sealsBefore = key.seals;
      const report = await rekeyStack(open(store, key));
      assert.equal(report.alreadyOnPrimary, 2);
      assert.equal(key.seals, sealsBefore, "no probe payload was sealed (that would be a KMS call)");
    });

    it("passphrases are told apart by their salt, not their shared key id", async () => {
      const store = make();
      const p1 = passphraseEncrypter({ passphrase: "correct horse battery staple", cost: 10 });
      const p2 = passphraseEncrypter({ passphrase: "correct horse battery staple 2", cost: 10 });
      await commitRevisions(open(store, p1), 1);
      const report = await rekeyStack(open(store, keyring(p2, p1)));
      assert.deepEqual([report.resealed, report.alreadyOnPrimary], [1, 0]);
      assert.equal((await open(store, p2).current()).entries[0]?.address, "r0");
    });

    it("revisions no configured key opens are reported and left as they are", async () => {
      const store = make();
      const stranger = newKey();
      const key = newKey();
      const revs = await commitRevisions(open(store, stranger), 2);
      const report = await rekeyStack(open(store, key));
      assert.deepEqual(
        report.failed.map((f) => [f.rev, f.code, f.sealedWith]),
        revs.map((rev) => [rev, "E_DECRYPT", stranger.keyId]),
      );
      assert.deepEqual(report.after, { [stranger.keyId]: 2 });
      assert.equal((await open(store, stranger).current()).entries[0]?.address, "r1", "left as it was");
    });

    it("encrypts an unencrypted history through a keyring with the noop encrypter", async () => {
      const store = make();
      const key = newKey();
      await commitRevisions(open(store, noopEncrypter()), 2);
      const report = await rekeyStack(open(store, keyring(key, noopEncrypter())));
      assert.deepEqual(report.before, { noop: 2 });
      assert.equal((await verifyStack(open(store, key))).ok, true);
    });

    it("an abort between revisions leaves every revision and current readable with the keyring", async () => {
      const store = make();
      const oldKey = newKey();
      const nextKey = newKey();
      const revs = await commitRevisions(open(store, oldKey), 4);
      const controller = new AbortController();
      const err = await rejectsWith(
        rekeyStack(open(store, keyring(nextKey, oldKey)), {
          signal: controller.signal,
          onProgress: (e) => {
            if (e.done === 2) controller.abort(new Error("enough"));
          },
        }),
        "E_ABORTED",
      );
      assert.equal((err.cause as Error).message, "enough");
      const ring = open(store, keyring(nextKey, oldKey));
      const report = await verifyStack(ring);
      assert.equal(report.ok, true, JSON.stringify(report.problems));
      assert.deepEqual(report.sealedWith, { [nextKey.keyId]: 2, [oldKey.keyId]: 2 });
      assert.equal(await ring.currentRev(), revs[3]);
      assert.equal(await ring.lockInfo(), undefined, "the lock is released after an abort");
      const finished = await rekeyStack(ring);
      assert.deepEqual([finished.resealed, finished.alreadyOnPrimary], [2, 2]);
    });

    it("a backend without an encrypter is refused", async () => {
      const store = make();
      await commitRevisions(open(store, newKey()), 1);
      await rejectsWith(rekeyStack(open(store)), "E_INVALID_CONFIG");
    });
  });
}
