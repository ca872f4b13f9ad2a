// A third-party ObjectStore driver: every object in a Map, each check-and-write atomic because
// it runs without yielding. It uses only the public driver kit, "statekeeper/driver".
import {
  checkDelete,
  checkPut,
  isSkipped,
  type ObjectInfo,
  type ObjectStore,
  probeConditionalRequests,
  StoreError,
  validateKey,
  validatePrefix,
} from "statekeeper/driver";

interface Stored {
  body: Uint8Array;
  etag: string;
  putId?: string;
}

export function mapStore(): ObjectStore {
  const objects = new Map<string, Stored>();
  let version = 0;
  const failed = (key: string, why: string) =>
    new StoreError("PRECONDITION_FAILED", `${key}: ${why}`, { key });
  const info = (key: string, o: Stored): ObjectInfo => ({ key, size: o.body.byteLength, etag: o.etag });
  // Keys are listed in the byte order of their UTF-8 encoding, as S3 lists them.
  const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

  return {
    name: "map",
    async get(key) {
      const o = objects.get(validateKey(key));
      return o && { body: o.body.slice(), etag: o.etag, ...(o.putId ? { putId: o.putId } : {}) };
    },
    async head(key) {
      const o = objects.get(validateKey(key));
      return o && info(key, o);
    },
    async put(key, body, opts = {}) {
      const existing = objects.get(validateKey(key));
      checkPut(key, body, opts); // bytes, and conditions that make sense: the kit's E_INVALID_ARGUMENT
      if (opts.ifNoneMatch === "*" && existing) throw failed(key, "exists");
      if (opts.ifMatch !== undefined && existing?.etag !== opts.ifMatch) throw failed(key, "etag differs");
      const stored: Stored = { body: body.slice(), etag: `"v${++version}"` };
      if (opts.putId !== undefined) stored.putId = opts.putId;
      objects.set(key, stored);
      return { etag: stored.etag };
    },
    async delete(key, opts = {}) {
      const existing = objects.get(validateKey(key));
      checkDelete(key, opts);
      if (opts.ifMatch !== undefined && existing?.etag !== opts.ifMatch) throw failed(key, "etag differs");
      objects.delete(key);
    },
    async *list(prefix, options) {
      validatePrefix(prefix);
      // `isSkipped`: the kit's reading of `options.skip` (the folders the caller does not want)
      // and `options.startAfter` (only keys after it are listed).
      const keys = [...objects.keys()]
        .filter((k) => k.startsWith(prefix) && !isSkipped(k, prefix, options))
        .sort(byteOrder);
      for (const key of keys) {
        const o = objects.get(key);
        if (o) yield info(key, o);
      }
    },
    probe() {
      // Real conditional requests, as every driver should probe: never a claim on trust.
      return probeConditionalRequests(this);
    },
  };
}
