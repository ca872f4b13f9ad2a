import type { Encrypter } from "../crypto/types.js";
import { isStateKeeperError, StateKeeperError } from "../errors.js";
import { type Capabilities, isStoreError, type ObjectStore } from "../objectstore/types.js";
import { normalizeRecordsPrefix, recordKey, validateResourceId } from "./keys.js";
import { listRecords } from "./list.js";
import { acquireLock, breakLock, type LockContext, readLock, releaseLock } from "./locks.js";
import type {
  DeleteRecordOptions,
  IaCState,
  RecordStore,
  RecordWithEtag,
  SaveRecordOptions,
} from "./types.js";
import { decodeStoredState, encodeState, validateStateInput } from "./validate.js";

export interface RecordStoreOptions {
  /** Folder of the records in the store; default `"iac-state/"`. A missing trailing `/` is added. */
  prefix?: string;
  /** Seals every record, bound to its key: a record object moved to another id fails to open. */
  encrypter?: Encrypter;
}

/** How often a plain (unconditional) save re-reads and retries when another writer keeps winning. */
const MAX_SAVE_ATTEMPTS = 10;

/** Records over an existing store. Validates the options at once; probes the store before the first write. */
export function createRecordStore(store: ObjectStore, opts: RecordStoreOptions = {}): RecordStore {
  const prefix = normalizeRecordsPrefix(opts.prefix ?? "iac-state/");
  const encrypter = opts.encrypter;
  let probed: Promise<Capabilities> | undefined;

  // Refuse, before anything is written, a store on which create-only or compare-and-swap is a
  // no-op: the lock would exclude nothing and a conditional save would overwrite blindly.
  const writable = (): Promise<Capabilities> => {
    probed ??= store.probe().then((caps) => {
      const failed = [
        ...(caps.createOnly ? [] : ["create-only put (If-None-Match: *)"]),
        ...(caps.compareAndSwap ? [] : ["compare-and-swap put (If-Match)"]),
      ];
      if (failed.length > 0)
        throw new StateKeeperError(
          "E_UNSUPPORTED_STORE",
          `store ${store.name} does not honour ${failed.join(" and ")}; refusing to write records to it`,
          { details: { store: store.name, failed, notes: caps.notes } },
        );
      return caps;
    });
    // A probe that failed for a transient reason (network) is tried again next time.
    probed.catch((e: unknown) => {
      if (!isStateKeeperError(e) || e.code !== "E_UNSUPPORTED_STORE") probed = undefined;
    });
    return probed;
  };

  const lockCtx: LockContext = { store, prefix, writable };

  const openBody = async (body: Uint8Array, key: string, id: string): Promise<IaCState> => {
    let plain = body;
    if (encrypter !== undefined) {
      try {
        plain = await encrypter.open(body, key);
      } catch (cause) {
        if (isStateKeeperError(cause)) throw cause;
        throw new StateKeeperError("E_DECRYPT", `record ${JSON.stringify(id)} cannot be decrypted`, {
          cause,
          details: { id },
        });
      }
    }
    return decodeStoredState(plain, id);
  };

  const readRecord = async (id: string): Promise<RecordWithEtag | undefined> => {
    const key = recordKey(prefix, id);
    const found = await store.get(key);
    if (found === undefined) return undefined;
    return { state: await openBody(found.body, key, id), etag: found.etag };
  };

  const conflict = (id: string, reason: string, cause?: unknown) =>
    new StateKeeperError("E_CONFLICT", `record ${JSON.stringify(id)} ${reason}; re-read it and try again`, {
      cause,
      details: { id },
    });

  return {
    prefix,

    async get(id) {
      validateResourceId(id);
      return readRecord(id);
    },

    async save(input, opts: SaveRecordOptions = {}) {
      const given = validateStateInput(input);
      checkSaveOptions(opts);
      const id = given.resource_id;
      const key = recordKey(prefix, id);
      await writable();
      for (let attempt = 0; attempt < MAX_SAVE_ATTEMPTS; attempt++) {
        const existing = opts.ifNoneMatch === "*" ? undefined : await store.get(key);
        if (opts.ifMatch !== undefined && existing === undefined) throw conflict(id, "no longer exists");
        let createdAt = given.created_at;
        if (existing !== undefined) {
          // A corrupt record is replaced (its created_at is lost with it); one this store cannot
          // decrypt is refused, so a wrong key never overwrites records sealed with the right one.
          const previous = await openBody(existing.body, key, id).catch((e: unknown) => {
            if (isStateKeeperError(e) && (e.code === "E_CORRUPT" || e.code === "E_TOO_LARGE"))
              return undefined;
            throw e;
          });
          if (previous?.created_at) createdAt = previous.created_at;
        }
        const now = new Date().toISOString();
        const state: IaCState = {
          ...given,
          outputs: given.outputs ?? {},
          config: given.config ?? {},
          resource_type: given.resource_type ?? "",
          provider: given.provider ?? "",
          created_at: createdAt ?? now,
          updated_at: now,
        };
        const plain = encodeState(state);
        const body = encrypter === undefined ? plain : await encrypter.seal(plain, key);
        // A plain save still writes conditionally on what it just read, so it can keep created_at
        // without racing; losing that race only means reading again.
        const condition =
          opts.ifMatch !== undefined
            ? { ifMatch: opts.ifMatch }
            : existing !== undefined && opts.ifNoneMatch === undefined
              ? { ifMatch: existing.etag }
              : { ifNoneMatch: "*" as const };
        try {
          return (await store.put(key, body, condition)).etag;
        } catch (e) {
          // A driver reports CONFLICT only after checking (by its own write id) that our write did
          // not land; comparing bytes here could only mistake another writer's identical record
          // for ours. Both mean: someone else's write won.
          if (!isStoreError(e, "PRECONDITION_FAILED", "CONFLICT")) throw e;
          if (opts.ifNoneMatch === "*") throw conflict(id, "already exists", e);
          if (opts.ifMatch !== undefined) throw conflict(id, `changed since etag ${opts.ifMatch}`, e);
        }
      }
      throw new StateKeeperError(
        "E_CONTENDED",
        `record ${JSON.stringify(id)} kept changing during ${MAX_SAVE_ATTEMPTS} attempts to save it; try again`,
        { details: { id } },
      );
    },

    list(filter) {
      return listRecords({ store, prefix, read: openBody }, filter);
    },

    async delete(id, opts: DeleteRecordOptions = {}) {
      validateResourceId(id);
      if (opts.ifMatch !== undefined && (typeof opts.ifMatch !== "string" || opts.ifMatch === ""))
        throw new StateKeeperError("E_INVALID_ARGUMENT", "delete: ifMatch must be a non-empty etag");
      const key = recordKey(prefix, id);
      const caps = await writable();
      const found = await store.head(key);
      const notFound = () =>
        new StateKeeperError("E_NOT_FOUND", `record ${JSON.stringify(id)} not found`, { details: { id } });
      if (found === undefined) throw notFound();
      if (opts.ifMatch === undefined) return store.delete(key);
      // Without a conditional DELETE (RGW ignores If-Match there) the best left is
      // read-compare-delete, which leaves a short window; see docs/records.md.
      if (!caps.conditionalDelete) {
        if (found.etag !== opts.ifMatch) throw conflict(id, `changed since etag ${opts.ifMatch}`);
        return store.delete(key);
      }
      try {
        await store.delete(key, { ifMatch: opts.ifMatch });
      } catch (e) {
        if (!isStoreError(e, "PRECONDITION_FAILED")) throw e;
        if ((await store.head(key)) === undefined) throw notFound();
        throw conflict(id, `changed since etag ${opts.ifMatch}`, e);
      }
    },

    lock: (id, opts) => acquireLock(lockCtx, id, opts),
    unlock: (id, lock) => releaseLock(lockCtx, id, lock),
    forceUnlock: (id) => breakLock(lockCtx, id),

    async lockInfo(id) {
      validateResourceId(id);
      return (await readLock(lockCtx, id))?.holder;
    },
  };
}

function checkSaveOptions(opts: SaveRecordOptions): void {
  if (typeof opts !== "object" || opts === null)
    throw new StateKeeperError("E_INVALID_ARGUMENT", "save: options must be an object");
  if (opts.ifMatch !== undefined && opts.ifNoneMatch !== undefined)
    throw new StateKeeperError("E_INVALID_ARGUMENT", "save: give ifMatch or ifNoneMatch, not both");
  if (opts.ifMatch !== undefined && (typeof opts.ifMatch !== "string" || opts.ifMatch === ""))
    throw new StateKeeperError("E_INVALID_ARGUMENT", "save: ifMatch must be a non-empty etag");
  if (opts.ifNoneMatch !== undefined && opts.ifNoneMatch !== "*")
    throw new StateKeeperError("E_INVALID_ARGUMENT", 'save: ifNoneMatch must be "*"');
}

/**
 * Records on a store given as a URL (`file:///abs`, `s3://bucket/prefix?…`, `memory://name`)
 * or as an `ObjectStore`. The URL's driver is loaded lazily.
 */
export async function openRecordStore(
  urlOrStore: string | ObjectStore,
  opts: RecordStoreOptions = {},
): Promise<RecordStore> {
  const prefix = normalizeRecordsPrefix(opts.prefix ?? "iac-state/");
  if (typeof urlOrStore !== "string") return createRecordStore(urlOrStore, { ...opts, prefix });
  const { openStore } = await import("../objectstore/url.js");
  return createRecordStore(await openStore(urlOrStore), { ...opts, prefix });
}
