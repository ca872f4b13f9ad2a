import { createHash } from "node:crypto";
import { checkDelete, checkPut, compareKeys, isSkipped, validateKey, validatePrefix } from "./kit.js";
import {
  type Capabilities,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
  StoreError,
} from "./types.js";

interface MemoryObject {
  body: Uint8Array;
  etag: string;
  lastModified: Date;
  putId: string | undefined;
}

const namedStores = new Map<string, Map<string, MemoryObject>>();

/**
 * An in-process store: each check-and-write is atomic because it runs without yielding.
 * `memoryStore("name")` returns stores sharing one map per name (what `memory://name` opens);
 * `memoryStore()` is private to the caller. Objects are copied in and out, so callers cannot
 * mutate stored bytes. It keeps each version's `putId`, so tests that lose responses on purpose
 * exercise the same settling as a network store.
 */
export function memoryStore(name?: string): ObjectStore {
  let objects: Map<string, MemoryObject>;
  if (name === undefined) objects = new Map();
  else {
    objects = namedStores.get(name) ?? new Map();
    namedStores.set(name, objects);
  }
  let sequence = 0;

  // The etag hashes the body and a per-store sequence number, so rewriting identical bytes
  // still yields a new etag and a stale compare-and-swap fails, as on S3 with versioned writes.
  const nextEtag = (body: Uint8Array): string =>
    `"${createHash("sha256").update(body).update(String(++sequence)).digest("hex").slice(0, 32)}"`;

  const info = (key: string, o: MemoryObject): ObjectInfo => ({
    key,
    size: o.body.byteLength,
    etag: o.etag,
    lastModified: o.lastModified,
    ...(o.putId === undefined ? {} : { putId: o.putId }),
  });

  const failed = (key: string, why: string) =>
    new StoreError("PRECONDITION_FAILED", `object ${key} ${why}`, { key });

  return {
    name: "memory",

    async get(key) {
      validateKey(key);
      const o = objects.get(key);
      if (o === undefined) return undefined;
      return { body: o.body.slice(), etag: o.etag, ...(o.putId === undefined ? {} : { putId: o.putId }) };
    },

    async head(key) {
      validateKey(key);
      const o = objects.get(key);
      return o === undefined ? undefined : info(key, o);
    },

    async put(key: string, body: Uint8Array, opts: PutOptions = {}) {
      validateKey(key);
      checkPut(key, body, opts);
      const existing = objects.get(key);
      if (opts.ifNoneMatch === "*" && existing !== undefined) throw failed(key, "already exists");
      if (opts.ifMatch !== undefined && existing?.etag !== opts.ifMatch)
        throw failed(key, `does not have etag ${opts.ifMatch}`);
      const stored = {
        body: Uint8Array.from(body),
        etag: nextEtag(body),
        lastModified: new Date(),
        putId: opts.putId,
      };
      objects.set(key, stored);
      return { etag: stored.etag };
    },

    async delete(key, opts = {}) {
      validateKey(key);
      checkDelete(key, opts);
      const existing = objects.get(key);
      if (existing === undefined && opts.ifMatch === undefined) return;
      if (opts.ifMatch !== undefined && existing?.etag !== opts.ifMatch)
        throw failed(key, `does not have etag ${opts.ifMatch}`);
      objects.delete(key);
    },

    async *list(prefix, options) {
      validatePrefix(prefix);
      const keys = [...objects.keys()]
        .filter((k) => k.startsWith(prefix) && !isSkipped(k, prefix, options))
        .sort(compareKeys);
      for (const key of keys) {
        const o = objects.get(key);
        if (o !== undefined) yield info(key, o);
      }
    },

    async probe(): Promise<Capabilities> {
      return {
        createOnly: true,
        compareAndSwap: true,
        conditionalDelete: true,
        notes: ["memory store: every condition is checked atomically in-process"],
      };
    },
  };
}
