import type { Encrypter } from "../crypto/types.js";
import { hasErrorCode, StateKeeperError, truncateForMessage } from "../errors.js";
import { assertStoreSupported } from "../objectstore/probe.js";
import { TransactionalObject, type Versioned } from "../objectstore/transactional.js";
import type { ObjectStore } from "../objectstore/types.js";
import {
  normalizeRecordsPrefix,
  type RecordLayout,
  type RecordLayoutName,
  recordLayout,
  validateResourceId,
} from "./keys.js";
import { listRecords } from "./list.js";
import { acquireLock, breakLock, type LockContext, readLock, releaseLock } from "./locks.js";
import type { DeleteRecordOptions, IaCState, RecordStore, SaveRecordOptions } from "./types.js";
import {
  decodeStoredBody,
  decodeStoredState,
  openRecordBytes,
  sealRecord,
  validateStateInput,
} from "./validate.js";

export interface RecordStoreOptions {
  /** Folder of the records in the store; default `"iac-state/"`. A missing trailing `/` is added. */
  prefix?: string;
  /** Seals every record, bound to its key: a record object moved to another id fails to open. */
  encrypter?: Encrypter;
  /**
   * How keys are laid out: `"statekeeper"` (default), lossless `%XX` keys; `"spaces"`,
   * DigitalOcean's Spaces state store's own keys (`/` and `\` turned into `_`), to open in place
   * and keep writing what the original wrote. Ids that would share a key there are refused.
   */
  layout?: RecordLayoutName;
}

/** How often a plain (unconditional) save re-reads and retries when another writer keeps winning. */
const MAX_SAVE_ATTEMPTS = 10;

/** A stored record as read for a save: its state, or why it cannot be read (it is then replaced). */
type Stored = { state: IaCState } | { unreadable: StateKeeperError };

/** Records over an existing store. Validates the options at once; probes the store before the first write. */
export function createRecordStore(store: ObjectStore, opts: RecordStoreOptions = {}): RecordStore {
  const prefix = normalizeRecordsPrefix(opts.prefix ?? "iac-state/");
  const layout = recordLayout(opts.layout);
  const encrypter = opts.encrypter;
  const lockCtx: LockContext = { store, prefix, layout };
  const recordKey = (id: string) => layout.recordKey(prefix, id);

  /**
   * Opens a record body read at `key`. `id` is the id asked for, or (listing the spaces layout)
   * `undefined`: the id is then the body's, and must be one whose key is `key`.
   */
  const openBody = async (body: Uint8Array, key: string, id: string | undefined): Promise<IaCState> => {
    const plain = await openRecordBytes(encrypter, body, key, String(id), { id });
    if (layout.name === "statekeeper" && id !== undefined) return decodeStoredState(plain, id);
    return checkSpacesOwner(decodeStoredBody(plain, id ?? key), key, id, prefix, layout);
  };

  /**
   * One record as a compare-and-swap object. A corrupt record reads as `unreadable` and is
   * replaced by a save (its created_at is lost with it); one this store cannot decrypt throws,
   * so a wrong key never overwrites records sealed with the right one.
   */
  const recordObject = (id: string) =>
    new TransactionalObject<Stored>(store, recordKey(id), {
      async decode(body, key) {
        try {
          return { state: await openBody(body, key, id) };
        } catch (e) {
          if (hasErrorCode(e, "E_CORRUPT", "E_TOO_LARGE")) return { unreadable: e };
          throw e;
        }
      },
      async encode(stored, key) {
        if (!("state" in stored))
          throw new StateKeeperError("E_INTERNAL", "records: cannot encode an unreadable record");
        return sealRecord(encrypter, stored.state, key);
      },
    });

  const conflict = (id: string, reason: string, cause?: unknown) =>
    new StateKeeperError("E_CONFLICT", `record ${JSON.stringify(id)} ${reason}; re-read it and try again`, {
      cause,
      details: { id },
    });

  /** The state a save stores: `created_at` kept from the stored record, `updated_at` the caller's or now. */
  const stateToSave = (
    given: ReturnType<typeof validateStateInput>,
    before: Stored | undefined,
  ): IaCState => {
    const now = new Date().toISOString();
    const kept = before !== undefined && "state" in before ? before.state.created_at : undefined;
    return {
      ...given,
      outputs: given.outputs ?? {},
      config: given.config ?? {},
      resource_type: given.resource_type ?? "",
      provider: given.provider ?? "",
      created_at: kept || given.created_at || now,
      updated_at: given.updated_at || now,
    };
  };

  return {
    prefix,
    layout: layout.name,

    async get(id) {
      validateResourceId(id);
      const found = await recordObject(id).read();
      if (found === undefined) return undefined;
      if ("unreadable" in found.value) throw found.value.unreadable;
      return { state: found.value.state, etag: found.etag };
    },

    async save(input, opts: SaveRecordOptions = {}) {
      const given = validateStateInput(input);
      checkSaveOptions(opts);
      const id = given.resource_id;
      const record = recordObject(id);
      await assertStoreSupported(store);
      if (opts.ifNoneMatch === "*") {
        // Spaces keys are shared by ids like a/b and a_b: say whose record is there before trying.
        if (layout.name === "spaces" && (await record.read()) !== undefined)
          throw conflict(id, "already exists");
        const created = await record.swap({ state: stateToSave(given, undefined) }, null);
        if (created === undefined) {
          if (layout.name === "spaces") await record.read(); // another id's record there: say so
          throw conflict(id, "already exists");
        }
        return created.etag;
      }
      if (opts.ifMatch !== undefined) {
        const before = await record.read();
        if (before === undefined) throw conflict(id, "no longer exists");
        const saved = await record.swap({ state: stateToSave(given, before.value) }, opts.ifMatch);
        if (saved === undefined) throw conflict(id, `changed since etag ${opts.ifMatch}`);
        return saved.etag;
      }
      // A plain save still writes conditionally on what it read, so it keeps created_at without
      // racing; losing that race only means reading again.
      try {
        const { after } = await record.update(
          (before) => ({ put: { state: stateToSave(given, before?.value) } }),
          {
            maxAttempts: MAX_SAVE_ATTEMPTS,
          },
        );
        return (after as Versioned<Stored>).etag;
      } catch (e) {
        if (!hasErrorCode(e, "E_CONTENDED")) throw e;
        throw new StateKeeperError(
          "E_CONTENDED",
          `record ${JSON.stringify(id)} kept changing during ${MAX_SAVE_ATTEMPTS} attempts to save it; try again`,
          { cause: e, details: { id } },
        );
      }
    },

    list(filter) {
      return listRecords({ store, prefix, layout, read: openBody }, filter);
    },

    async delete(id, opts: DeleteRecordOptions = {}) {
      validateResourceId(id);
      if (opts.ifMatch !== undefined && (typeof opts.ifMatch !== "string" || opts.ifMatch === ""))
        throw new StateKeeperError("E_INVALID_ARGUMENT", "delete: ifMatch must be a non-empty etag");
      const key = recordKey(id);
      await assertStoreSupported(store);
      const notFound = () =>
        new StateKeeperError("E_NOT_FOUND", `record ${JSON.stringify(id)} not found`, { details: { id } });
      if (layout.name === "spaces") {
        // The key may hold another id's record (a/b and a_b share one): read whose it is first, and
        // delete only that version, so a colliding record is never removed in this id's name.
        const found = await recordObject(id).read(); // a collision throws E_ALREADY_EXISTS here
        if (found === undefined) throw notFound();
        if (opts.ifMatch !== undefined && opts.ifMatch !== found.etag)
          throw conflict(id, `changed since etag ${opts.ifMatch}`);
        if (await recordObject(id).remove(found.etag)) return;
        if ((await store.head(key)) === undefined) throw notFound();
        throw conflict(id, "changed while it was being deleted");
      }
      const found = await store.head(key);
      if (found === undefined) throw notFound();
      if (opts.ifMatch === undefined) return store.delete(key);
      // Where the store ignores a conditional DELETE (RGW), this is read-compare-delete, which
      // leaves a short window; see docs/records.md.
      if (await recordObject(id).remove(opts.ifMatch)) return;
      if ((await store.head(key)) === undefined) throw notFound();
      throw conflict(id, `changed since etag ${opts.ifMatch}`);
    },

    lock: (id, opts) => acquireLock(lockCtx, id, opts),
    unlock: (id, lock) => releaseLock(lockCtx, id, lock),
    forceUnlock: (id) => breakLock(lockCtx, id),
    lockInfo: (id) => readLock(lockCtx, id),
  };
}

/**
 * In the spaces layout a key does not say which id it holds: the body does. A body naming the id
 * asked for is that record; one naming another id with the same key is a collision
 * (`E_ALREADY_EXISTS`, naming both ids and the key: reading, saving or deleting it under this id
 * would act on another resource's record); one whose id belongs at another key was moved
 * (`E_CORRUPT`).
 */
function checkSpacesOwner(
  state: IaCState,
  key: string,
  id: string | undefined,
  prefix: string,
  layout: RecordLayout,
): IaCState {
  if (id !== undefined && state.resource_id === id) return state;
  let ownKey: string | undefined;
  try {
    ownKey = layout.recordKey(prefix, state.resource_id);
  } catch {
    ownKey = undefined; // not a valid id at all
  }
  if (id === undefined && ownKey === key) return state;
  if (id !== undefined && ownKey === key) throw keyCollision(id, state.resource_id, key);
  const named = JSON.stringify(truncateForMessage(state.resource_id));
  throw new StateKeeperError(
    "E_CORRUPT",
    `record at ${JSON.stringify(key)}${id === undefined ? "" : ` (read for ${JSON.stringify(id)})`} names resource ${named}, whose key is ${ownKey === undefined ? "invalid" : JSON.stringify(ownKey)}`,
    { details: { key, ...(id === undefined ? {} : { id }) } },
  );
}

/** Two ids that share one key in DigitalOcean's Spaces layout. */
export function keyCollision(id: string, other: string, key: string): StateKeeperError {
  return new StateKeeperError(
    "E_ALREADY_EXISTS",
    `resource ids ${JSON.stringify(id)} and ${JSON.stringify(other)} share the key ${JSON.stringify(key)} in DigitalOcean's Spaces layout ` +
      `(it turns / and \\ into _), and it holds ${JSON.stringify(other)}'s record; refused so neither overwrites the other. ` +
      "Move the records to lossless keys with 'statekeeper records migrate-keys' to keep both.",
    { details: { id, other, key } },
  );
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
  const { openStore } = await import("../objectstore/schemes.js");
  return createRecordStore(await openStore(urlOrStore), { ...opts, prefix });
}
