import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import type { Encrypter } from "../../src/crypto/types.js";
import { StateKeeperError } from "../../src/errors.js";
import type { ObjectStore } from "../../src/objectstore/types.js";
import { createRecordStore } from "../../src/records/store.js";
import type { IaCStateInput, RecordStore } from "../../src/records/types.js";

/**
 * A minimal AES-256-GCM encrypter binding `location` as associated data, so the records layer
 * can be tested on its own contract without depending on the crypto layer's progress.
 */
export function testEncrypter(keyId = "test-key"): Encrypter {
  const key = randomBytes(32);
  return {
    keyId,
    readableKeyIds: [keyId],
    async seal(plaintext, location) {
      const nonce = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", key, nonce);
      cipher.setAAD(Buffer.from(location, "utf8"));
      const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      return Buffer.concat([Buffer.from("TENC"), nonce, cipher.getAuthTag(), body]);
    },
    async open(sealed, location) {
      const buf = Buffer.from(sealed);
      if (buf.byteLength < 32 || buf.subarray(0, 4).toString() !== "TENC")
        throw new StateKeeperError("E_CORRUPT", "not a test envelope");
      const decipher = createDecipheriv("aes-256-gcm", key, buf.subarray(4, 16));
      decipher.setAAD(Buffer.from(location, "utf8"));
      decipher.setAuthTag(buf.subarray(16, 32));
      try {
        return Buffer.concat([decipher.update(buf.subarray(32)), decipher.final()]);
      } catch (cause) {
        throw new StateKeeperError("E_DECRYPT", `cannot open with key ${keyId}`, {
          cause,
          details: { keyId },
        });
      }
    },
  };
}

/** Wraps a store and counts every call, to prove a rejected request did no I/O at all. */
export function countingStore(inner: ObjectStore): { store: ObjectStore; calls: string[] } {
  const calls: string[] = [];
  const seen = (call: string) => {
    calls.push(call);
  };
  const store: ObjectStore = {
    name: inner.name,
    get: (key) => {
      seen(`get ${key}`);
      return inner.get(key);
    },
    head: (key) => {
      seen(`head ${key}`);
      return inner.head(key);
    },
    put: (key, body, opts) => {
      seen(`put ${key}`);
      return inner.put(key, body, opts);
    },
    delete: (key, opts) => {
      seen(`delete ${key}`);
      return inner.delete(key, opts);
    },
    list: (prefix) => {
      seen(`list ${prefix}`);
      return inner.list(prefix);
    },
    probe: () => {
      seen("probe");
      return inner.probe();
    },
  };
  return { store, calls };
}

/** A random prefix per test, so suites share a store without wiping it. */
export function freshPrefix(label = "rec"): string {
  return `${label}-${randomBytes(6).toString("hex")}/`;
}

export type MakeStore = () => ObjectStore | Promise<ObjectStore>;

export function state(id: string, extra: Partial<IaCStateInput> = {}): IaCStateInput {
  return { resource_id: id, resource_type: "droplet", provider: "do", status: "active", ...extra };
}

export async function records(makeStore: MakeStore): Promise<{ store: ObjectStore; rs: RecordStore }> {
  const store = await makeStore();
  return { store, rs: createRecordStore(store, { prefix: freshPrefix() }) };
}
