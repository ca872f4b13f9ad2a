import { createHash } from "node:crypto";
import { validateKey, validatePrefix } from "./keys.js";
import {
  type Capabilities,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
  StoreError,
} from "./types.js";

interface StoredObject {
  body: Uint8Array;
  etag: string;
  lastModified: Date;
}

const namedStores = new Map<string, Map<string, StoredObject>>();

/**
 * An in-process store: each check-and-write is atomic because it runs without yielding.
 * `memoryStore("name")` returns stores sharing one map per name (what `memory://name` opens);
 * `memoryStore()` is private to the caller. Objects are copied in and out, so callers cannot
 * mutate stored bytes.
 */
export function memoryStore(name?: string): ObjectStore {
  let objects: Map<string, StoredObject>;
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

  const info = (key: string, o: StoredObject): ObjectInfo => ({
    key,
    size: o.body.byteLength,
    etag: o.etag,
    lastModified: o.lastModified,
  });

  return {
    name: "memory",

    async get(key) {
      validateKey(key);
      const o = objects.get(key);
      return o === undefined ? undefined : { body: o.body.slice(), etag: o.etag };
    },

    async head(key) {
      validateKey(key);
      const o = objects.get(key);
      return o === undefined ? undefined : info(key, o);
    },

    async put(key: string, body: Uint8Array, opts: PutOptions = {}) {
      validateKey(key);
      checkPutOptions(opts);
      const existing = objects.get(key);
      if (opts.ifNoneMatch === "*" && existing !== undefined)
        throw new StoreError("PRECONDITION_FAILED", `object ${key} already exists`, { key });
      if (opts.ifMatch !== undefined && existing?.etag !== opts.ifMatch)
        throw new StoreError("PRECONDITION_FAILED", `object ${key} does not have etag ${opts.ifMatch}`, {
          key,
        });
      const stored = { body: Uint8Array.from(body), etag: nextEtag(body), lastModified: new Date() };
      objects.set(key, stored);
      return { etag: stored.etag };
    },

    async delete(key, opts = {}) {
      validateKey(key);
      const existing = objects.get(key);
      if (existing === undefined && opts.ifMatch === undefined) return;
      if (opts.ifMatch !== undefined && existing?.etag !== opts.ifMatch)
        throw new StoreError("PRECONDITION_FAILED", `object ${key} does not have etag ${opts.ifMatch}`, {
          key,
        });
      objects.delete(key);
    },

    async *list(prefix) {
      validatePrefix(prefix);
      const keys = [...objects.keys()].filter((k) => k.startsWith(prefix)).sort(compareKeys);
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

/** Refuses contradictory conditions, shared by every driver. */
export function checkPutOptions(opts: PutOptions): void {
  if (opts.ifMatch !== undefined && opts.ifNoneMatch !== undefined)
    throw new StoreError("INVALID_ARGUMENT", "put: give ifMatch or ifNoneMatch, not both");
  if (opts.ifNoneMatch !== undefined && opts.ifNoneMatch !== "*")
    throw new StoreError(
      "INVALID_ARGUMENT",
      `put: ifNoneMatch must be "*" (got ${JSON.stringify(opts.ifNoneMatch)})`,
    );
  if (opts.ifMatch !== undefined && (typeof opts.ifMatch !== "string" || opts.ifMatch === ""))
    throw new StoreError("INVALID_ARGUMENT", "put: ifMatch must be a non-empty etag");
}

/** Byte order of the UTF-8 encoding — the order S3 lists keys in. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}
