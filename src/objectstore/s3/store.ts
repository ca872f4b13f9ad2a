import type { S3Client } from "@aws-sdk/client-s3";
import { checkDelete, checkPut, compareKeys, isSkipped, validateKey, validatePrefix } from "../kit.js";
import { type RetryPolicy, retryingStore, withRetries } from "../retrying.js";
import {
  type Capabilities,
  type DeleteOptions,
  type ListOptions,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
  type StoredObject,
  StoreError,
} from "../types.js";
import { createS3Client, loadS3Sdk, type S3Sdk } from "./client.js";
import { mapS3Error } from "./errors.js";
import { type EtagForm, formatEtag, quoteEtag, sameEtag } from "./etag.js";
import { resolveS3Options, type S3StoreOptions, s3OptionsFromUrl } from "./options.js";
import { probeS3, type S3Primitives } from "./probe.js";

/**
 * User metadata carrying the put id of the write that stored an object
 * (x-amz-meta-statekeeper-write): how `retryingStore` settles a write whose response was lost.
 */
const PUT_ID_METADATA = "statekeeper-write";
const isMissingObject = (e: StoreError) => e.reason === "NOT_FOUND" && e.details.s3Code !== "NoSuchBucket";

/**
 * An `ObjectStore` on an S3 bucket (AWS S3 or any S3-compatible store), every key under
 * `prefix/`. Options are checked at once (E_INVALID_CONFIG naming the option); the AWS SDK is
 * loaded on the first request. Conditional writes use If-None-Match / If-Match; which ETag
 * form the store wants is learned (by `probe()` or on the first compare-and-swap), and
 * conditional DELETE is used only where `probe()` saw it honoured. Every request makes one
 * attempt here; retries and the settling of lost responses are `retryingStore`'s.
 */
export function s3Store(options: S3StoreOptions): ObjectStore {
  return s3StoreWithInternals(options, {});
}

/** Settings only tests need; neither the package nor `s3Store` exposes them. */
export interface S3StoreInternals {
  /** Age, by the store's clock, at which another probe's scratch object counts as stale. */
  probeStaleAfterMs?: number;
}

/** What the driver has learned about the store from its answers; undefined until known. */
interface Learned {
  etagForm: EtagForm | undefined;
  conditionalDelete: boolean | undefined;
}

/** `s3Store` with internal settings, for tests (see S3StoreInternals). */
export function s3StoreWithInternals(options: S3StoreOptions, internals: S3StoreInternals): ObjectStore {
  const opts = resolveS3Options(options);
  const policy: RetryPolicy = { maxAttempts: opts.maxAttempts, baseDelayMs: opts.retryBaseDelayMs };
  let ready: Promise<{ sdk: S3Sdk; client: S3Client }> | undefined;
  const connect = () => {
    if (ready === undefined) {
      const connecting = Promise.all([loadS3Sdk(), createS3Client(opts)]).then(([sdk, client]) => ({
        sdk,
        client,
      }));
      // Not remembered when it fails (no region yet, a region lookup that timed out): the next request tries again.
      connecting.catch(() => {
        if (ready === connecting) ready = undefined;
      });
      ready = connecting;
    }
    return ready;
  };
  const learned: Learned = { etagForm: undefined, conditionalDelete: undefined };
  const requests = { opts, policy, connect, learned };

  const store = retryingStore(
    {
      ...s3Requests(requests, { verbatim: false }),
      async probe(): Promise<Capabilities> {
        // The probe's requests send conditions exactly as given (it is finding out which form
        // works) and are settled like every other write; their unknown outcomes make it doubt.
        const found = await probeS3(
          (observe) =>
            probePrimitives(
              retryingStore(
                { ...s3Requests(requests, { verbatim: true }), probe: notProbing },
                { ...policy, onUnknownOutcome: observe },
              ),
            ),
          opts.kmsKeyId,
          internals.probeStaleAfterMs,
        );
        if (found.etagForm !== undefined) learned.etagForm = found.etagForm;
        learned.conditionalDelete = found.capabilities.conditionalDelete;
        return found.capabilities;
      },
    },
    policy,
  );
  return store;
}

/** The probe's own requests are never asked to probe. */
const notProbing = (): Promise<Capabilities> =>
  Promise.reject(new StoreError("UNSUPPORTED", "s3: the probe's requests cannot probe the store themselves"));

/** The probe's view of a (retrying) store: conditions as given, a conditional delete sent as one. */
function probePrimitives(store: ObjectStore): S3Primitives {
  return {
    rawPut: async (key, body, cond) => (await store.put(key, body, cond)).etag,
    rawDelete: (key, ifMatch) => store.delete(key, ifMatch === undefined ? {} : { ifMatch }),
    get: (key) => store.get(key),
    head: (key) => store.head(key),
    list: (prefix) => store.list(prefix),
  };
}

interface RequestContext {
  opts: ReturnType<typeof resolveS3Options>;
  policy: RetryPolicy;
  connect: () => Promise<{ sdk: S3Sdk; client: S3Client }>;
  learned: Learned;
}

/**
 * The S3 requests, one attempt each, errors mapped (a write whose outcome is unknown says so).
 * `verbatim`: send If-Match exactly as given and a conditional DELETE as such, for the probe;
 * otherwise adapt If-Match to the form the store wants, and read-compare-delete where the store
 * ignores a conditional DELETE.
 */
function s3Requests(ctx: RequestContext, mode: { verbatim: boolean }): Omit<ObjectStore, "probe"> {
  const { bucket, keyPrefix, kmsKeyId } = ctx.opts;
  const { learned } = ctx;
  const fullKey = (key: string) => keyPrefix + validateKey(key);
  const sse =
    kmsKeyId === undefined ? {} : { ServerSideEncryption: "aws:kms" as const, SSEKMSKeyId: kmsKeyId };

  async function send<T>(
    op: string,
    key: string | undefined,
    fn: (s: { sdk: S3Sdk; client: S3Client }) => Promise<T>,
  ): Promise<T> {
    try {
      return await fn(await ctx.connect());
    } catch (e) {
      throw mapS3Error(e, op, bucket, key);
    }
  }

  async function get(key: string): Promise<StoredObject | undefined> {
    const k = fullKey(key);
    try {
      return await send("get", key, async ({ sdk, client }) => {
        const out = await client.send(new sdk.GetObjectCommand({ Bucket: bucket, Key: k }));
        // Read in the same attempt: a body cut off mid-stream fails (and is retried) like the request.
        const body = (await out.Body?.transformToByteArray()) ?? new Uint8Array();
        const putId = out.Metadata?.[PUT_ID_METADATA];
        return { body, etag: quoteEtag(out.ETag ?? ""), ...(putId === undefined ? {} : { putId }) };
      });
    } catch (e) {
      if (isMissingObject(e as StoreError)) return undefined;
      throw e;
    }
  }

  async function head(key: string): Promise<ObjectInfo | undefined> {
    const k = fullKey(key);
    try {
      return await send("head", key, async ({ sdk, client }) => {
        const out = await client.send(new sdk.HeadObjectCommand({ Bucket: bucket, Key: k }));
        const putId = out.Metadata?.[PUT_ID_METADATA];
        return {
          key,
          size: out.ContentLength ?? 0,
          etag: quoteEtag(out.ETag ?? ""),
          ...(out.LastModified !== undefined ? { lastModified: out.LastModified } : {}),
          ...(putId === undefined ? {} : { putId }),
        };
      });
    } catch (e) {
      if (isMissingObject(e as StoreError)) return undefined;
      throw e;
    }
  }

  const sendPut = (
    key: string,
    body: Uint8Array,
    cond: { ifNoneMatch?: "*"; ifMatch?: string },
    putId?: string,
  ) =>
    send("put", key, async ({ sdk, client }) => {
      const out = await client.send(
        new sdk.PutObjectCommand({
          Bucket: bucket,
          Key: keyPrefix + key,
          Body: body,
          ContentLength: body.byteLength,
          ...(putId === undefined ? {} : { Metadata: { [PUT_ID_METADATA]: putId } }),
          ...(cond.ifNoneMatch !== undefined ? { IfNoneMatch: cond.ifNoneMatch } : {}),
          ...(cond.ifMatch !== undefined ? { IfMatch: cond.ifMatch } : {}),
          ...sse,
        }),
      );
      return { etag: quoteEtag(out.ETag ?? "") };
    });

  async function put(key: string, body: Uint8Array, putOpts: PutOptions = {}): Promise<{ etag: string }> {
    validateKey(key);
    checkPut(key, body, putOpts);
    const { ifMatch, ifNoneMatch, putId } = putOpts;
    const form: EtagForm = mode.verbatim ? "quoted" : (learned.etagForm ?? "quoted");
    const attempt = (f: EtagForm) =>
      sendPut(
        key,
        body,
        {
          ...(ifNoneMatch === undefined ? {} : { ifNoneMatch }),
          ...(ifMatch === undefined ? {} : { ifMatch: mode.verbatim ? ifMatch : formatEtag(ifMatch, f) }),
        },
        putId,
      );
    try {
      const done = await attempt(form);
      if (ifMatch !== undefined && !mode.verbatim) learned.etagForm ??= form;
      return done;
    } catch (e) {
      let err = e as StoreError;
      // S3 answers If-Match on a missing key with 404; the contract calls that a failed condition.
      if (ifMatch !== undefined && isMissingObject(err))
        err = new StoreError(
          "PRECONDITION_FAILED",
          `s3 put ${bucket}/${key}: no object to compare-and-swap`,
          {
            key,
            cause: err,
          },
        );
      if (err.reason !== "PRECONDITION_FAILED" || ifMatch === undefined || mode.verbatim) throw err;
      if (learned.etagForm !== undefined || form !== "quoted") throw err;
      // A definite 412 although the etag matches: the store wants it unquoted (Ceph RGW 16).
      // Learned now, so a retry of this write (if the next attempt fails) uses that form too.
      const current = await head(key);
      if (current === undefined || !sameEtag(current.etag, ifMatch)) throw err;
      learned.etagForm = "unquoted";
      return attempt("unquoted");
    }
  }

  const sendDelete = (key: string, ifMatch?: string) =>
    send("delete", key, async ({ sdk, client }) => {
      await client.send(
        new sdk.DeleteObjectCommand({
          Bucket: bucket,
          Key: keyPrefix + key,
          ...(ifMatch !== undefined ? { IfMatch: ifMatch } : {}),
        }),
      );
    });

  async function remove(key: string, delOpts: DeleteOptions = {}): Promise<void> {
    validateKey(key);
    checkDelete(key, delOpts);
    const { ifMatch } = delOpts;
    const failed = (why: string) =>
      new StoreError("PRECONDITION_FAILED", `s3 delete ${bucket}/${key}: ${why}`, { key });
    try {
      if (ifMatch === undefined) return await sendDelete(key);
      if (mode.verbatim || learned.conditionalDelete === true)
        return await sendDelete(
          key,
          mode.verbatim ? ifMatch : formatEtag(ifMatch, learned.etagForm ?? "quoted"),
        );
    } catch (e) {
      if (!isMissingObject(e as StoreError)) throw e;
      // Deleting a missing key is fine; a conditional DELETE of one is a failed condition, as for PUT.
      if (ifMatch === undefined) return;
      throw failed("no object to compare against");
    }
    // Read-compare-delete, for stores that ignore If-Match on DELETE (Ceph RGW 16). A write
    // landing between the HEAD and the DELETE is lost; see the probe's note (callers that need
    // strict safety check Capabilities.conditionalDelete). A DELETE whose answer is lost is not
    // re-sent blindly: retryingStore compares again first, so it never removes a successor.
    const current = await head(key);
    if (current === undefined) throw failed("no object to compare against");
    if (!sameEtag(current.etag, ifMatch)) throw failed("etag does not match");
    try {
      await sendDelete(key);
    } catch (e) {
      if (!isMissingObject(e as StoreError)) throw e;
    }
  }

  async function* list(prefix: string, options?: ListOptions): AsyncIterable<ObjectInfo> {
    validatePrefix(prefix);
    const items: ObjectInfo[] = [];
    let token: string | undefined;
    do {
      // Pages are retried one by one (a failure on page 5 does not restart the listing); a
      // failure that outlasts the retries throws, never a partial listing.
      const page = await withRetries(ctx.policy, () =>
        send("list", prefix, ({ sdk, client }) =>
          client.send(
            new sdk.ListObjectsV2Command({
              Bucket: bucket,
              Prefix: keyPrefix + prefix,
              ...(token !== undefined ? { ContinuationToken: token } : {}),
              // Pages start after it; `isSkipped` below still drops any key a gateway sent anyway.
              ...(options?.startAfter !== undefined ? { StartAfter: keyPrefix + options.startAfter } : {}),
            }),
          ),
        ),
      );
      for (const o of page.Contents ?? []) {
        if (o.Key === undefined || !o.Key.startsWith(keyPrefix)) continue;
        const key = o.Key.slice(keyPrefix.length);
        if (isSkipped(key, prefix, options)) continue;
        items.push({
          key,
          size: o.Size ?? 0,
          etag: quoteEtag(o.ETag ?? ""),
          ...(o.LastModified !== undefined ? { lastModified: o.LastModified } : {}),
        });
      }
      if (page.IsTruncated === true && !page.NextContinuationToken)
        throw new StoreError(
          "UNAVAILABLE",
          `s3 list ${bucket}/${keyPrefix}${prefix}: truncated page without a continuation token`,
        );
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    items.sort((a, b) => compareKeys(a.key, b.key));
    yield* items;
  }

  return { name: "s3", get, head, put, delete: remove, list };
}

/** `s3://bucket/prefix?region=…&endpoint=…&forcePathStyle=true&kmsKeyId=…`; credentials from the AWS chain. */
export function s3StoreFromUrl(url: string): ObjectStore {
  return s3Store(s3OptionsFromUrl(url));
}
