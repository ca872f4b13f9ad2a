import { randomBytes } from "node:crypto";
import { inspectEnvelope } from "../crypto/index.js";
import type { Encrypter } from "../crypto/types.js";
import { FencedError, type LockHolder, StateKeeperError } from "../errors.js";
import { validateKey } from "../objectstore/keys.js";
import { isStoreError, type ObjectStore } from "../objectstore/types.js";
import {
  decodeSnapshot,
  encodeSnapshot,
  MAX_REVISION_ATTEMPTS,
  newRevision,
  revisionWithSuffix,
  type Snapshot,
  sortRevisions,
} from "../snapshot/index.js";
import { assertStoreSupported } from "./capabilities.js";
import {
  type CurrentPointer,
  decodeCurrentPointer,
  decodeLockRecord,
  encodeJsonObject,
  type LockRecord,
  SNAPSHOT_SUFFIX,
  type StackLayout,
  sha256Hex,
  stackLayout,
  whoAmI,
} from "./layout.js";
import { acquireLock, type HeldLock, type Lock, type LockOptions } from "./lock.js";
import { normalizePrefix, validateName } from "./names.js";
import { retryTransient } from "./retry.js";

export interface BackendOptions {
  /** Key prefix inside the store (`team/prod`); each segment follows the name rules. */
  prefix?: string;
  /** The factory (stack definition) name: first level of the layout. */
  factory: string;
  /** The stack (deployment) name: second level of the layout. */
  stack: string;
  /** Seals every snapshot. Required: pass `noopEncrypter()` explicitly for unencrypted state. */
  encrypter: Encrypter;
  /** Epoch-nanosecond clock for new revisions (tests freeze it). */
  clock?: () => bigint;
  /** Defaults for every `lock()` call on this backend. */
  lockDefaults?: Pick<LockOptions, "leaseMs" | "pollMs">;
}

/** What the lock object says, for `lock status`. */
export interface LockInfo extends LockHolder {
  leaseMs: number;
  renewals: number;
}

/** Where a revision stands: for history, verify and migrate. */
export interface RevisionInfo {
  rev: string;
  size: number;
  lastModified: Date | undefined;
}

/**
 * One stack's versioned state over any ObjectStore: the seed's `Backend`, with leased locks and
 * fenced commits. See docs/architecture.md for the commit protocol.
 */
export interface Backend {
  readonly factory: string;
  readonly stack: string;
  readonly store: ObjectStore;
  /** The current snapshot, verified against the digest in `current`. `E_NO_CURRENT` when never set. */
  current(): Promise<Snapshot>;
  /** The current rev. `E_NO_CURRENT` when never set. */
  currentRev(): Promise<string>;
  /** The raw `current` pointer (rev, digest, who moved it when), or undefined when never set. */
  currentPointer(): Promise<CurrentPointer | undefined>;
  /** One revision. `E_NOT_FOUND` for an unknown rev. */
  get(rev: string): Promise<Snapshot>;
  /** Stores a new revision and returns its rev. Never moves `current`. */
  write(snapshot: Snapshot): Promise<string>;
  /**
   * Points `current` at an existing rev, as compare-and-swap against the `current` this backend
   * last saw (when its lock was taken, or by its own last `setCurrent`; without a lock, its last
   * read). Someone else advanced the stack meanwhile → `FencedError`, and nothing is overwritten.
   */
  setCurrent(rev: string): Promise<void>;
  /** `write` then `setCurrent`: one commit. Returns the new rev. */
  commit(snapshot: Snapshot): Promise<string>;
  /** Every rev, oldest first. */
  list(): Promise<string[]>;
  /** Size and time of every revision, oldest first (one listing, no reads). */
  revisions(): Promise<RevisionInfo[]>;
  /** Removes a revision; a missing rev is fine. The current rev is refused (`E_INVALID_ARGUMENT`). */
  delete(rev: string): Promise<void>;
  /** Blocks until the stack's lock is held (see `LockOptions`). */
  lock(opts?: LockOptions): Promise<Lock>;
  /** Removes the lock whoever holds it; returns who held it (undefined when unlocked). */
  forceUnlock(): Promise<LockHolder | undefined>;
  /** Who holds the lock, or undefined. */
  lockInfo(): Promise<LockInfo | undefined>;
  /** The sealed bytes of a revision, unopened (for verify and migrate). `E_NOT_FOUND` when missing. */
  readSealed(rev: string): Promise<Uint8Array>;
  /**
   * Stores `snapshot` at exactly `rev` (migration keeps rev names). Create-only: an existing rev
   * with the same content is accepted, with other content it is `E_ALREADY_EXISTS`.
   */
  importRevision(rev: string, snapshot: Snapshot): Promise<void>;
  /**
   * Re-seals one revision with the encrypter's primary key (compare-and-swap on the object; the
   * `current` digest follows when it is the current rev). Returns false when it was already
   * sealed with that key.
   */
  reseal(rev: string): Promise<boolean>;
}

export function createBackend(store: ObjectStore, options: BackendOptions): Backend {
  const factory = validateName("factory", options.factory);
  const stack = validateName("stack", options.stack);
  const prefix = normalizePrefix(options.prefix);
  if (options.encrypter === undefined || typeof options.encrypter.seal !== "function")
    throw new StateKeeperError(
      "E_INVALID_CONFIG",
      "createBackend: an encrypter is required (use noopEncrypter() for unencrypted state)",
    );
  return new StoreBackend(store, stackLayout(prefix, factory, stack), factory, stack, options);
}

function noCurrent(factory: string, stack: string): StateKeeperError {
  return new StateKeeperError("E_NO_CURRENT", `no current snapshot for ${factory}/${stack}`, {
    details: { factory, stack },
  });
}

function validateRev(rev: unknown): string {
  if (typeof rev !== "string" || rev === "" || rev.includes("/") || rev.startsWith("."))
    throw new StateKeeperError("E_INVALID_ARGUMENT", `invalid revision ${JSON.stringify(String(rev))}`);
  return validateKey(rev, "revision");
}

function envelopeIdentity(sealed: Uint8Array): string {
  const header = inspectEnvelope(sealed);
  return JSON.stringify([header.keyId, header.kdf?.salt ?? ""]);
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

class StoreBackend implements Backend {
  readonly factory: string;
  readonly stack: string;
  readonly store: ObjectStore;
  readonly #layout: StackLayout;
  readonly #encrypter: Encrypter;
  readonly #clock: (() => bigint) | undefined;
  readonly #lockDefaults: Pick<LockOptions, "leaseMs" | "pollMs">;
  #lock: HeldLock | undefined;
  /**
   * The etag of `current` that the next `setCurrent` must replace: `null` when `current` was
   * seen absent, `undefined` when not seen yet. Fixed at lock time while a lock is held.
   */
  #expectedCurrent: string | null | undefined;
  #primaryIdentityPromise: Promise<string> | undefined;
  #lastAllocated: { base: string; suffix: number } | undefined;
  /** Digests of revisions this backend wrote, so `setCurrent` need not read them back. */
  readonly #digests = new Map<string, { sha256: string; size: number }>();

  constructor(
    store: ObjectStore,
    layout: StackLayout,
    factory: string,
    stack: string,
    options: BackendOptions,
  ) {
    this.store = store;
    this.#layout = layout;
    this.factory = factory;
    this.stack = stack;
    this.#encrypter = options.encrypter;
    this.#clock = options.clock;
    this.#lockDefaults = options.lockDefaults ?? {};
  }

  #holding(): boolean {
    return this.#lock !== undefined && !this.#lock.lost;
  }

  #observeCurrent(etag: string | null): void {
    if (!this.#holding()) this.#expectedCurrent = etag;
  }

  async #readPointer(): Promise<{ pointer: CurrentPointer; etag: string } | undefined> {
    const got = await this.store.get(this.#layout.current);
    if (got === undefined) {
      this.#observeCurrent(null);
      return undefined;
    }
    const pointer = decodeCurrentPointer(this.#layout.current, got.body);
    this.#observeCurrent(got.etag);
    return pointer === undefined ? undefined : { pointer, etag: got.etag };
  }

  async currentPointer(): Promise<CurrentPointer | undefined> {
    return (await this.#readPointer())?.pointer;
  }

  async currentRev(): Promise<string> {
    const read = await this.#readPointer();
    if (read === undefined) throw noCurrent(this.factory, this.stack);
    return read.pointer.rev;
  }

  async current(): Promise<Snapshot> {
    const read = await this.#readPointer();
    if (read === undefined) throw noCurrent(this.factory, this.stack);
    const { rev, sha256, alsoSha256 } = read.pointer;
    const got = await this.store.get(this.#layout.snapshot(rev));
    if (got === undefined)
      throw new StateKeeperError("E_CORRUPT", `current names revision ${rev}, but that revision is missing`, {
        details: { rev },
      });
    const actual = sha256Hex(got.body);
    if (actual !== sha256 && actual !== alsoSha256)
      throw new StateKeeperError(
        "E_CORRUPT",
        `revision ${rev} does not match the digest recorded in current (expected sha256 ${sha256}, found ${actual})`,
        { details: { rev, expected: sha256, actual } },
      );
    return this.#open(rev, got.body);
  }

  async #open(rev: string, sealed: Uint8Array): Promise<Snapshot> {
    const plaintext = await this.#encrypter.open(sealed, this.#layout.sealLocation(rev));
    return decodeSnapshot(plaintext);
  }

  async readSealed(rev: string): Promise<Uint8Array> {
    const got = await this.store.get(this.#layout.snapshot(validateRev(rev)));
    if (got === undefined)
      throw new StateKeeperError("E_NOT_FOUND", `no revision ${rev} in ${this.factory}/${this.stack}`, {
        details: { rev },
      });
    return got.body;
  }

  async get(rev: string): Promise<Snapshot> {
    return this.#open(rev, await this.readSealed(rev));
  }

  #checkOwnership(snapshot: Snapshot): void {
    if (snapshot?.stack !== this.stack || snapshot.factory?.name !== this.factory)
      throw new StateKeeperError(
        "E_INVALID_SNAPSHOT",
        `snapshot belongs to ${snapshot?.factory?.name}/${snapshot?.stack}, not to ${this.factory}/${this.stack}`,
        { details: { factory: snapshot?.factory?.name, stack: snapshot?.stack } },
      );
  }

  async #beforeWrite(): Promise<void> {
    this.#lock?.assertHeld();
    await assertStoreSupported(this.store);
  }

  async write(snapshot: Snapshot): Promise<string> {
    this.#checkOwnership(snapshot);
    const plaintext = encodeSnapshot(snapshot);
    await this.#beforeWrite();
    const base = newRevision(this.#clock);
    // Suffixes this backend already took for the same instant are skipped, so a stuck clock costs
    // one create per write rather than one per earlier collision.
    const first = this.#lastAllocated?.base === base ? this.#lastAllocated.suffix + 1 : 0;
    for (let suffix = first; suffix < MAX_REVISION_ATTEMPTS; suffix++) {
      const rev = suffix === 0 ? base : revisionWithSuffix(base, suffix);
      const sealed = await this.#encrypter.seal(plaintext, this.#layout.sealLocation(rev));
      if (await this.#createOnly(this.#layout.snapshot(rev), sealed)) {
        this.#lastAllocated = { base, suffix };
        this.#digests.set(rev, { sha256: sha256Hex(sealed), size: sealed.byteLength });
        return rev;
      }
    }
    throw new StateKeeperError(
      "E_CONFLICT",
      `could not allocate fresh revision after ${MAX_REVISION_ATTEMPTS} attempts (base ${base})`,
    );
  }

  /** Create-only put; false when the key is taken by other bytes. A lost response is resolved by re-reading. */
  async #createOnly(key: string, body: Uint8Array): Promise<boolean> {
    try {
      await retryTransient(() => this.store.put(key, body, { ifNoneMatch: "*" }));
      return true;
    } catch (e) {
      if (!isStoreError(e, "PRECONDITION_FAILED", "CONFLICT")) throw e;
      const now = await retryTransient(() => this.store.get(key));
      return now !== undefined && equalBytes(now.body, body);
    }
  }

  async #digestOf(rev: string): Promise<{ sha256: string; size: number }> {
    const known = this.#digests.get(rev);
    if (known !== undefined) return known;
    const got = await this.store.get(this.#layout.snapshot(rev));
    if (got === undefined)
      throw new StateKeeperError(
        "E_NOT_FOUND",
        `set-current ${rev}: no such revision in ${this.factory}/${this.stack}`,
        {
          details: { rev },
        },
      );
    return { sha256: sha256Hex(got.body), size: got.body.byteLength };
  }

  async setCurrent(rev: string): Promise<void> {
    validateRev(rev);
    await this.#beforeWrite();
    const digest = await this.#digestOf(rev);
    await this.#advanceCurrent(rev, digest);
  }

  async #advanceCurrent(
    rev: string,
    digest: { sha256: string; size: number; alsoSha256?: string },
  ): Promise<void> {
    if (this.#expectedCurrent === undefined) await this.#readPointer();
    const expected = this.#expectedCurrent ?? null;
    const pointer: CurrentPointer = {
      rev,
      sha256: digest.sha256,
      ...(digest.alsoSha256 === undefined ? {} : { alsoSha256: digest.alsoSha256 }),
      size: digest.size,
      updated: new Date().toISOString(),
      by: whoAmI().who,
    };
    // A per-write id makes these bytes unique, so "the stored bytes are mine" (how a lost response
    // is resolved, here and in drivers) can never be fooled by another writer's identical pointer.
    const body = encodeJsonObject({ ...pointer, writeId: randomBytes(8).toString("hex") });
    let etag: string;
    try {
      ({ etag } = await retryTransient(() =>
        this.store.put(
          this.#layout.current,
          body,
          expected === null ? { ifNoneMatch: "*" } : { ifMatch: expected },
        ),
      ));
    } catch (e) {
      if (!isStoreError(e, "PRECONDITION_FAILED", "CONFLICT")) throw e;
      // Our own write may have landed with its response lost: only our exact bytes count.
      const now = await retryTransient(() => this.store.get(this.#layout.current));
      if (now === undefined || !equalBytes(now.body, body)) {
        let by = "";
        try {
          const p = now === undefined ? undefined : decodeCurrentPointer(this.#layout.current, now.body);
          if (p !== undefined) by = ` (it now names ${p.rev}, set by ${p.by} at ${p.updated})`;
        } catch {
          // An unreadable pointer is reported by the next read; the fence holds either way.
        }
        throw new FencedError(
          `refusing to set current to ${rev}: ${this.factory}/${this.stack} was advanced by someone else since this writer last saw it${by}`,
          { cause: e, details: { rev } },
        );
      }
      etag = now.etag;
    }
    this.#expectedCurrent = etag;
  }

  async commit(snapshot: Snapshot): Promise<string> {
    const rev = await this.write(snapshot);
    await this.setCurrent(rev);
    return rev;
  }

  async revisions(): Promise<RevisionInfo[]> {
    const byRev = new Map<string, RevisionInfo>();
    for await (const o of this.store.list(this.#layout.snapshotsPrefix)) {
      const name = o.key.slice(this.#layout.snapshotsPrefix.length);
      if (name.includes("/") || !name.endsWith(SNAPSHOT_SUFFIX)) continue;
      const rev = name.slice(0, -SNAPSHOT_SUFFIX.length);
      byRev.set(rev, { rev, size: o.size, lastModified: o.lastModified });
    }
    return sortRevisions([...byRev.keys()]).map((rev) => byRev.get(rev)!);
  }

  async list(): Promise<string[]> {
    return (await this.revisions()).map((r) => r.rev);
  }

  async delete(rev: string): Promise<void> {
    validateRev(rev);
    await assertStoreSupported(this.store);
    const pointer = await this.currentPointer();
    if (pointer?.rev === rev)
      throw new StateKeeperError(
        "E_INVALID_ARGUMENT",
        `refusing to delete ${rev}: it is the current revision of ${this.factory}/${this.stack}`,
        { details: { rev } },
      );
    await this.store.delete(this.#layout.snapshot(rev));
    this.#digests.delete(rev);
  }

  async lock(opts: LockOptions = {}): Promise<Lock> {
    if (this.#holding())
      throw new StateKeeperError(
        "E_INVALID_ARGUMENT",
        `this backend already holds the lock on ${this.factory}/${this.stack}; unlock it first`,
      );
    const caps = await assertStoreSupported(this.store);
    const held = await acquireLock(this.store, caps, this.#layout.lock, { ...this.#lockDefaults, ...opts });
    this.#lock = held;
    try {
      // Fence from here: the next setCurrent must replace exactly the current we see now.
      const got = await this.store.head(this.#layout.current);
      this.#expectedCurrent = got === undefined ? null : got.etag;
    } catch (e) {
      await held.unlock().catch(() => undefined);
      this.#lock = undefined;
      throw e;
    }
    return {
      get id() {
        return held.id;
      },
      get holder() {
        return held.holder;
      },
      get lost() {
        return held.lost;
      },
      get signal() {
        return held.signal;
      },
      get tookOverFrom() {
        return held.tookOverFrom;
      },
      unlock: async () => {
        if (this.#lock === held) {
          this.#lock = undefined;
          // The next unlocked writer fences against what it reads, not what this holder saw.
          this.#expectedCurrent = undefined;
        }
        return held.unlock();
      },
    };
  }

  async #readLock(): Promise<LockRecord | undefined> {
    const got = await this.store.get(this.#layout.lock);
    return got === undefined ? undefined : decodeLockRecord(this.#layout.lock, got.body);
  }

  async lockInfo(): Promise<LockInfo | undefined> {
    return this.#readLock();
  }

  async forceUnlock(): Promise<LockHolder | undefined> {
    let holder: LockHolder | undefined;
    try {
      holder = await this.#readLock();
    } catch (e) {
      // An unreadable lock is exactly what force-unlock is for.
      if (!(e instanceof StateKeeperError && e.code === "E_CORRUPT")) throw e;
    }
    await this.store.delete(this.#layout.lock);
    return holder;
  }

  async importRevision(rev: string, snapshot: Snapshot): Promise<void> {
    validateRev(rev);
    this.#checkOwnership(snapshot);
    const plaintext = encodeSnapshot(snapshot);
    await this.#beforeWrite();
    const key = this.#layout.snapshot(rev);
    const sealed = await this.#encrypter.seal(plaintext, this.#layout.sealLocation(rev));
    if (await this.#createOnly(key, sealed)) return;
    // Already there: fine if it holds the same snapshot (a re-run migration), else refuse.
    const existing = await this.get(rev);
    if (!equalBytes(encodeSnapshot(existing), plaintext))
      throw new StateKeeperError("E_ALREADY_EXISTS", `revision ${rev} already exists with other content`, {
        details: { rev },
      });
  }

  /**
   * Which key `seal` uses now, as seen in an envelope header. Key ids alone are not enough:
   * passphrase encrypters share one id, and differ by their KDF salt.
   */
  #primaryIdentity(): Promise<string> {
    this.#primaryIdentityPromise ??= this.#encrypter
      .seal(new Uint8Array(0), "statekeeper/identity-probe")
      .then(envelopeIdentity);
    return this.#primaryIdentityPromise;
  }

  async reseal(rev: string): Promise<boolean> {
    validateRev(rev);
    await this.#beforeWrite();
    const key = this.#layout.snapshot(rev);
    const got = await this.store.get(key);
    if (got === undefined)
      throw new StateKeeperError("E_NOT_FOUND", `no revision ${rev} in ${this.factory}/${this.stack}`, {
        details: { rev },
      });
    const location = this.#layout.sealLocation(rev);
    const plaintext = await this.#encrypter.open(got.body, location);
    if (envelopeIdentity(got.body) === (await this.#primaryIdentity())) return false;
    const sealed = await this.#encrypter.seal(plaintext, location);
    const digest = { sha256: sha256Hex(sealed), size: sealed.byteLength };
    const isCurrent = (await this.#readPointer())?.pointer.rev === rev;
    // The current rev's object and its digest in `current` cannot change in one step, so the
    // pointer first accepts both digests, then the object is replaced, then the old digest goes.
    // A crash between any two steps leaves a current that opens and verifies.
    if (isCurrent) await this.#advanceCurrent(rev, { ...digest, alsoSha256: sha256Hex(got.body) });
    await this.store.put(key, sealed, { ifMatch: got.etag });
    if (isCurrent) await this.#advanceCurrent(rev, digest);
    this.#digests.set(rev, digest);
    return true;
  }
}
