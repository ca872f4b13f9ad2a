import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { S3Client } from "@aws-sdk/client-s3";
import { validateKey, validatePrefix } from "../keys.js";
import { checkPutOptions, compareKeys } from "../memory.js";
import {
  type Capabilities,
  type DeleteOptions,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
  StoreError,
} from "../types.js";
import { createS3Client, loadS3Sdk, type S3Sdk } from "./client.js";
import { isOutcomeUnknown, mapS3Error } from "./errors.js";
import { type EtagForm, formatEtag, quoteEtag, sameEtag } from "./etag.js";
import { resolveS3Options, type S3StoreOptions, s3OptionsFromUrl } from "./options.js";
import { probeS3, type S3Primitives } from "./probe.js";
import { backoffDelayMs, withRetries } from "./retry.js";

/** User metadata naming the logical write that stored an object (x-amz-meta-statekeeper-write). */
const WRITE_ID_METADATA = "statekeeper-write";
const isMissingObject = (e: StoreError) => e.reason === "NOT_FOUND" && e.details.s3Code !== "NoSuchBucket";

/**
 * An `ObjectStore` on an S3 bucket (AWS S3 or any S3-compatible store), every key under
 * `prefix/`. Options are checked at once (E_INVALID_CONFIG naming the option); the AWS SDK is
 * loaded on the first request. Conditional writes use If-None-Match / If-Match; which ETag
 * form the store wants is learned (by `probe()` or on the first compare-and-swap), and
 * conditional DELETE is used only where `probe()` saw it honoured.
 */
export function s3Store(options: S3StoreOptions): ObjectStore {
  return s3StoreWithInternals(options, {});
}

/** Settings only tests need; neither the package nor `s3Store` exposes them. */
export interface S3StoreInternals {
  /** Age, by the store's clock, at which another probe's scratch object counts as stale. */
  probeStaleAfterMs?: number;
}

/** `s3Store` with internal settings, for tests (see S3StoreInternals). */
export function s3StoreWithInternals(options: S3StoreOptions, internals: S3StoreInternals): ObjectStore {
  const opts = resolveS3Options(options);
  const { bucket, keyPrefix, kmsKeyId } = opts;
  const policy = { maxAttempts: opts.maxAttempts, baseDelayMs: opts.retryBaseDelayMs };
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
  // Learned from the store's answers; undefined until known.
  let etagForm: EtagForm | undefined;
  let conditionalDelete: boolean | undefined;

  const fullKey = (key: string) => keyPrefix + validateKey(key);
  const sse =
    kmsKeyId === undefined ? {} : { ServerSideEncryption: "aws:kms" as const, SSEKMSKeyId: kmsKeyId };
  /** `observe` hears of every failure whose outcome is unknown (the probe's transport failures). */
  const retrying = <T>(
    op: string,
    key: string | undefined,
    fn: (s: { sdk: S3Sdk; client: S3Client }) => Promise<T>,
    observe?: () => void,
  ) =>
    withRetries(
      policy,
      (e) => {
        const err = mapS3Error(e, op, bucket, key);
        if (isOutcomeUnknown(err)) observe?.();
        return err;
      },
      async () => fn(await connect()),
    );

  /**
   * One PUT attempt, conditions sent verbatim, errors mapped. `writeId` (the same on every retry
   * of one logical write) is stored as user metadata so an ambiguous outcome can be resolved
   * exactly: see `resolveByReading`.
   */
  const sendPut = async (
    key: string,
    body: Uint8Array,
    cond: { ifNoneMatch?: "*"; ifMatch?: string },
    writeId: string,
  ) => {
    try {
      const { sdk, client } = await connect();
      const out = await client.send(
        new sdk.PutObjectCommand({
          Bucket: bucket,
          Key: keyPrefix + key,
          Body: body,
          ContentLength: body.byteLength,
          Metadata: { [WRITE_ID_METADATA]: writeId },
          ...(cond.ifNoneMatch !== undefined ? { IfNoneMatch: cond.ifNoneMatch } : {}),
          ...(cond.ifMatch !== undefined ? { IfMatch: cond.ifMatch } : {}),
          ...sse,
        }),
      );
      return quoteEtag(out.ETag ?? "");
    } catch (e) {
      throw mapS3Error(e, "put", bucket, key);
    }
  };
  const rawDelete = (key: string, ifMatch?: string, observe?: () => void) =>
    retrying(
      "delete",
      key,
      async ({ sdk, client }) => {
        await client.send(
          new sdk.DeleteObjectCommand({
            Bucket: bucket,
            Key: keyPrefix + key,
            ...(ifMatch !== undefined ? { IfMatch: ifMatch } : {}),
          }),
        );
      },
      observe,
    ).then(
      () => "deleted" as const,
      (e: StoreError) => {
        if (!isMissingObject(e)) throw e;
        return "missing" as const;
      },
    );

  async function get(key: string) {
    const k = fullKey(key);
    try {
      return await retrying("get", key, async ({ sdk, client }) => {
        const out = await client.send(new sdk.GetObjectCommand({ Bucket: bucket, Key: k }));
        // Read inside the retried step: a body cut off mid-stream is retried like any failure.
        const body = (await out.Body?.transformToByteArray()) ?? new Uint8Array();
        return { body, etag: quoteEtag(out.ETag ?? "") };
      });
    } catch (e) {
      if (isMissingObject(e as StoreError)) return undefined;
      throw e;
    }
  }

  async function head(key: string): Promise<ObjectInfo | undefined> {
    const k = fullKey(key);
    try {
      return await retrying("head", key, async ({ sdk, client }) => {
        const out = await client.send(new sdk.HeadObjectCommand({ Bucket: bucket, Key: k }));
        return {
          key,
          size: out.ContentLength ?? 0,
          etag: quoteEtag(out.ETag ?? ""),
          ...(out.LastModified !== undefined ? { lastModified: out.LastModified } : {}),
        };
      });
    } catch (e) {
      if (isMissingObject(e as StoreError)) return undefined;
      throw e;
    }
  }

  /**
   * After a write whose outcome was unknown (connection lost after sending, 5xx, 409), a retry
   * can fail its own precondition because the first attempt did land. Whether it did is read
   * from the write id every PUT stores as user metadata: comparing bytes instead would count
   * another writer's byte-identical write as ours, and two claimers writing the same content
   * would both "win". Anything else is a real precondition failure.
   */
  async function resolveByReading(key: string, writeId: string): Promise<{ etag: string } | undefined> {
    const k = fullKey(key);
    try {
      return await retrying("head", key, async ({ sdk, client }) => {
        const out = await client.send(new sdk.HeadObjectCommand({ Bucket: bucket, Key: k }));
        return out.Metadata?.[WRITE_ID_METADATA] === writeId
          ? { etag: quoteEtag(out.ETag ?? "") }
          : undefined;
      });
    } catch (e) {
      if (isMissingObject(e as StoreError)) return undefined;
      throw e;
    }
  }

  /**
   * One logical PUT under one write id, retried on throttling and transient failures. After an
   * attempt whose outcome was unknown (connection lost after sending, 5xx, 409), a retry can fail
   * its own precondition because that attempt did land: `resolveByReading` settles it by the write
   * id. `adaptEtagForm`: a compare-and-swap learns whether the store wants the etag quoted (the
   * probe sends its conditions verbatim instead, to find that out). `observe` hears of every
   * attempt whose outcome was unknown, resolved or not.
   */
  async function putResolved(
    key: string,
    body: Uint8Array,
    putOpts: PutOptions,
    mode: { adaptEtagForm: boolean; observe?: () => void },
  ): Promise<{ etag: string }> {
    const conditional = putOpts.ifMatch !== undefined || putOpts.ifNoneMatch !== undefined;
    let form: EtagForm = etagForm ?? "quoted";
    let outcomeUnknown = false;
    const writeId = randomBytes(12).toString("hex");
    for (let attempt = 1; ; attempt++) {
      const ifMatch =
        putOpts.ifMatch === undefined || !mode.adaptEtagForm
          ? putOpts.ifMatch
          : formatEtag(putOpts.ifMatch, form);
      const cond = {
        ...(putOpts.ifNoneMatch !== undefined ? { ifNoneMatch: putOpts.ifNoneMatch } : {}),
        ...(ifMatch !== undefined ? { ifMatch } : {}),
      };
      try {
        // One attempt per turn of this loop, so an unknown outcome is noticed and resolved.
        const etag = await sendPut(key, body, cond, writeId);
        if (mode.adaptEtagForm && putOpts.ifMatch !== undefined) etagForm ??= form;
        return { etag };
      } catch (e) {
        let err = e as StoreError;
        // S3 answers If-Match on a missing key with 404; the contract calls that a failed condition.
        if (putOpts.ifMatch !== undefined && isMissingObject(err))
          err = new StoreError(
            "PRECONDITION_FAILED",
            `s3 put ${bucket}/${key}: no object to compare-and-swap`,
            {
              key,
              cause: err,
            },
          );
        if (err.reason === "PRECONDITION_FAILED" && conditional) {
          if (
            mode.adaptEtagForm &&
            putOpts.ifMatch !== undefined &&
            etagForm === undefined &&
            form === "quoted"
          ) {
            const current = await head(key);
            if (current !== undefined && sameEtag(current.etag, putOpts.ifMatch)) {
              // The etag matches yet the store refused the quoted form: it wants it unquoted (RGW 16).
              form = "unquoted";
              attempt--;
              continue;
            }
          }
          if (outcomeUnknown) {
            const ours = await resolveByReading(key, writeId);
            if (ours !== undefined) return ours;
          }
          throw err;
        }
        const unknownOutcome = isOutcomeUnknown(err);
        if (unknownOutcome) mode.observe?.();
        if (unknownOutcome && conditional) outcomeUnknown = true;
        if ((err.retryable || (err.reason === "CONFLICT" && conditional)) && attempt < policy.maxAttempts) {
          await sleep(backoffDelayMs(policy, attempt));
          continue;
        }
        if (outcomeUnknown) {
          const ours = await resolveByReading(key, writeId).catch(() => undefined);
          if (ours !== undefined) return ours;
        }
        throw err;
      }
    }
  }

  async function put(key: string, body: Uint8Array, putOpts: PutOptions = {}): Promise<{ etag: string }> {
    validateKey(key);
    checkPutOptions(putOpts);
    return putResolved(key, body, putOpts, { adaptEtagForm: true });
  }

  async function remove(key: string, delOpts: DeleteOptions = {}): Promise<void> {
    validateKey(key);
    if (delOpts.ifMatch === undefined) {
      await rawDelete(key);
      return;
    }
    const missing = () =>
      new StoreError("PRECONDITION_FAILED", `s3 delete ${bucket}/${key}: no object to compare against`, {
        key,
      });
    if (conditionalDelete === true) {
      // A conditional DELETE of a missing key is a failed condition, as for PUT (S3 answers 404).
      if ((await rawDelete(key, formatEtag(delOpts.ifMatch, etagForm ?? "quoted"))) === "missing")
        throw missing();
      return;
    }
    await compareAndDelete(key, delOpts.ifMatch, missing);
  }

  /**
   * Read-compare-delete, for stores that ignore If-Match on DELETE (Ceph RGW 16). A write landing
   * between the HEAD and the DELETE is lost; see the probe's note (callers that need strict
   * safety check Capabilities.conditionalDelete). What must never happen is a *retried* DELETE
   * removing an object written after ours was deleted — a successor's lock, created the moment
   * the lock we released disappeared. So the DELETE is sent once per comparison: after an
   * unknown outcome the object is read again, and is deleted again only if it is still the
   * version we compared; gone or replaced means our DELETE landed.
   */
  async function compareAndDelete(key: string, ifMatch: string, missing: () => StoreError): Promise<void> {
    let sentOnce = false;
    for (let attempt = 1; ; attempt++) {
      const current = await head(key);
      if (current === undefined) {
        if (sentOnce) return;
        throw missing();
      }
      if (!sameEtag(current.etag, ifMatch)) {
        if (sentOnce) return;
        throw new StoreError("PRECONDITION_FAILED", `s3 delete ${bucket}/${key}: etag does not match`, {
          key,
        });
      }
      try {
        const { sdk, client } = await connect();
        await client.send(new sdk.DeleteObjectCommand({ Bucket: bucket, Key: keyPrefix + key }));
        return;
      } catch (e) {
        const err = mapS3Error(e, "delete", bucket, key);
        if (isMissingObject(err)) return;
        if (!err.retryable || attempt >= policy.maxAttempts) throw err;
        if (isOutcomeUnknown(err)) sentOnce = true;
        await sleep(backoffDelayMs(policy, attempt));
      }
    }
  }

  async function* list(prefix: string): AsyncIterable<ObjectInfo> {
    validatePrefix(prefix);
    const items: ObjectInfo[] = [];
    let token: string | undefined;
    do {
      const page = await retrying("list", prefix, async ({ sdk, client }) =>
        client.send(
          new sdk.ListObjectsV2Command({
            Bucket: bucket,
            Prefix: keyPrefix + prefix,
            ...(token !== undefined ? { ContinuationToken: token } : {}),
          }),
        ),
      );
      for (const o of page.Contents ?? []) {
        if (o.Key === undefined || !o.Key.startsWith(keyPrefix)) continue;
        items.push({
          key: o.Key.slice(keyPrefix.length),
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

  /** The probe's requests: conditions sent verbatim; writes whose outcome was unknown reported to `observe`. */
  const probePrimitives = (observe: () => void): S3Primitives => ({
    rawPut: async (key, body, cond) =>
      (await putResolved(key, body, cond, { adaptEtagForm: false, observe })).etag,
    rawDelete: (key, ifMatch) => rawDelete(key, ifMatch, observe),
    // Reads change nothing, so a retried read cannot have distorted a verdict.
    get,
    head,
    list: (prefix) => list(prefix),
  });

  return {
    name: "s3",
    get,
    head,
    put,
    delete: remove,
    list,
    async probe(): Promise<Capabilities> {
      const found = await probeS3(probePrimitives, kmsKeyId, internals.probeStaleAfterMs);
      if (found.etagForm !== undefined) etagForm = found.etagForm;
      conditionalDelete = found.capabilities.conditionalDelete;
      return found.capabilities;
    },
  };
}

/** `s3://bucket/prefix?region=…&endpoint=…&forcePathStyle=true&kmsKeyId=…`; credentials from the AWS chain. */
export function s3StoreFromUrl(url: string): ObjectStore {
  return s3Store(s3OptionsFromUrl(url));
}
