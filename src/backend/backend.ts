import { sealingKeyMatches } from "../crypto/identity.js";
import { inspectEnvelope } from "../crypto/index.js";
import type { Encrypter } from "../crypto/types.js";
import {
  type ErrorCode,
  errorKind,
  FencedError,
  hasErrorCode,
  type LockHolder,
  StateKeeperError,
} from "../errors.js";
import { mapBounded } from "../internal/bounded.js";
import { hasControlCharacter } from "../internal/text.js";
import type { LeaseClock } from "../lock/clock.js";
import {
  acquireLease,
  breakLease,
  combineSignals,
  DEFAULT_LEASE_MS,
  DEFAULT_POLL_MS,
  type HeldLease,
  readLease,
  resumeLease,
  thisProcess,
} from "../lock/lease.js";
import { validateKey } from "../objectstore/kit.js";
import { assertStoreSupported } from "../objectstore/probe.js";
import type { TransactionalObject, Versioned } from "../objectstore/transactional.js";
import { isStoreError, type ObjectInfo, type ObjectStore, StoreError } from "../objectstore/types.js";
import { chunkStream, type EncodedEntry, TARGET_CHUNK_BYTES } from "../snapshot/chunks.js";
import {
  decodeStoredObject,
  encodeCanonical,
  type StoredSnapshot,
  storedSnapshotFromObject,
} from "../snapshot/codec.js";
import { type DiffOptions, diffCounted, type SnapshotDiff } from "../snapshot/diff.js";
import {
  encodeSnapshot,
  MAX_REVISION_ATTEMPTS,
  newRevision,
  revisionWithSuffix,
  type Snapshot,
  sortRevisions,
} from "../snapshot/index.js";
import {
  type ChunkListRef,
  type ChunkRef,
  encodeEntry,
  encodeManifest,
  inlineMaxBytes,
  MANIFEST_FORMAT_VERSION,
  type Manifest,
  manifestFromObject,
  type Overlay,
} from "../snapshot/manifest.js";
import { compareCodePoints } from "../snapshot/revision.js";
import { type Entry, type FactoryInfo, FORMAT_VERSION, type JsonObject } from "../snapshot/types.js";
import { validateSnapshot } from "../snapshot/validate.js";
import {
  type ChunkPart,
  ChunkStore,
  checkpointBytes,
  checkTotal,
  chunkDigest,
  chunksByDigest,
  countAfter,
  entryBytes,
  growOverlay,
  needsCheckpoint,
  noSuchEntry,
  overlayBytes,
  overlayFromParts,
  partsBytes,
  partsEntries,
  planOverlay,
  rebaseOverlay,
} from "./chunk-store.js";
import {
  type CurrentPointer,
  type CurrentState,
  currentObject,
  type Fence,
  NO_CURRENT,
  pointerOf,
} from "./current.js";
import {
  type ChunkReseal,
  type ChunkSweep,
  registerBackendInternals,
  type SweepOptions,
} from "./internals.js";
import { SNAPSHOT_SUFFIX, type StackLayout, sha256Hex, stackLayout } from "./layout.js";
import { normalizePrefix, validateFactoryName, validateName } from "./names.js";
import { type LogEntry, type LogLease, StackLog } from "./stack-log.js";

export interface LockOptions {
  /** Stop waiting when this aborts; the thrown `LockedError` keeps `signal.reason` as its `cause`. */
  signal?: AbortSignal;
  /** Stop waiting after this long (the `cause` is then a `TimeoutError`). Default: wait indefinitely. */
  timeoutMs?: number;
  /** What the holder is doing ("apply", "push", …), shown to anyone who waits. Default "lock". */
  operation?: string;
  /**
   * How long the lock survives without renewal (a crashed holder is taken over after it). Default
   * 30 s. `null`: no lease — never renewed, never taken over, held until unlocked or broken, and
   * resumable from any process with `resumeLock(id)` (locks held across requests, e.g. a Terraform
   * client's through `statekeeper serve`).
   */
  leaseMs?: number | null;
  /** Wait while someone else holds it (default); false: fail at once with `E_LOCKED` naming the holder. */
  wait?: boolean;
  /**
   * The lock's id, when the holder names its own (a Terraform LockInfo ID). A lock with this id
   * already held is returned as taken: the same request, retried. Default: a fresh random id.
   */
  id?: string;
  /** Who holds it, when that is not this process. */
  holder?: { user: string; host: string; pid: number };
  /** What the holder said about itself, kept with the lock; `lockInfo()` returns it. At most 16 KiB. */
  info?: Record<string, unknown>;
  /** Mean delay between attempts while waiting, jittered ±50%. Default 500 ms. */
  pollMs?: number;
  /** Called once when the lock is found held by someone else and this call starts waiting. */
  onWait?: (holder: LockHolder) => void;
}

/** A held stack lock. The backend renews its lease in the background until `unlock()`. */
export interface Lock {
  readonly id: string;
  readonly holder: LockHolder;
  /** True once the lease was lost (taken over, force-unlocked, not renewed in time, or fenced out). */
  readonly lost: boolean;
  /** Aborts when the lease is lost, so long-running work can stop early. */
  readonly signal: AbortSignal;
  /** The holder whose expired lease this lock took over, if any. */
  readonly tookOverFrom: LockHolder | undefined;
  /**
   * Releases the lock if it is still ours. Resolves `true` when released, `false` when the lock
   * was no longer ours (taken over or force-unlocked) — a successor's lock is never removed.
   */
  unlock(): Promise<boolean>;
}

export interface BackendOptions {
  /** Key prefix inside the store (`team/prod`); each segment follows the name rules. */
  prefix?: string;
  /** The factory (stack definition) name: first level of the layout. */
  factory: string;
  /** The stack (deployment) name: second level of the layout. */
  stack: string;
  /**
   * Seals and opens every snapshot: pass `noopEncrypter()` explicitly for unencrypted state.
   * Without one the backend handles metadata only — current rev, revisions, `history()` without
   * `open`, locks, `setCurrent`, `delete` — and every call that would open or seal a snapshot
   * is refused (`E_INVALID_CONFIG`) before any I/O, so state is never written unencrypted by
   * omission.
   */
  encrypter?: Encrypter | undefined;
  /** Epoch-nanosecond clock for new revisions (tests freeze it). */
  clock?: () => bigint;
  /** Defaults for every `lock()` call on this backend. */
  lockDefaults?: Pick<LockOptions, "leaseMs" | "pollMs">;
  /** The clock leases are measured on (tests pass `manualClock()`). Default: the system clock. */
  lockClock?: LeaseClock;
  /**
   * The storage format new revisions are written in. 2 (the default): each revision is a small
   * sealed manifest over immutable, shared chunks of entries, so a commit writes what changed
   * (see docs/design.md, "Storage format 2"). 1: each revision is the whole snapshot, sealed, as
   * statekeeper wrote before format 2 (for a store older versions must still write to). Both are
   * always read, and a stack may hold both.
   */
  format?: 1 | 2;
  /** Format 2: the encoded bytes a chunk aims at (default 32 KiB). Tests make it small. */
  chunkTargetBytes?: number;
  /**
   * The head a stack gets when this backend finds it empty: `"log"` (the default), a sequence of
   * create-only entries that is the stack's head, lock and fence at once, so a commit under a
   * held lock is one write and the store needs no `If-Match` (see docs/design.md, "The stack
   * log"); or `"pointer"`, a `current` object moved by compare-and-swap beside a `lock` object,
   * which keeps revision names of the writer's choosing (an import of unobin's stacks). A stack
   * that has objects keeps the head they show, whatever this says; a stack with both is refused
   * (`E_CORRUPT`).
   */
  head?: HeadMode;
}

/** How a stack finds its current revision, its lock and its fence (`BackendOptions.head`). */
export type HeadMode = "pointer" | "log";

/** What `commitChanges` changes: entries removed, then entries added or replaced, by address. */
export interface EntryChanges {
  /** Entries to add, or to replace the entry with the same address. */
  upsert?: Entry[];
  /** Addresses to remove; each must exist in the current state (`E_INVALID_ARGUMENT` otherwise). */
  remove?: string[];
  /** The new outputs (replacing the current ones); omitted: kept. */
  outputs?: JsonObject;
  /** Must be this backend's stack when given (as `snapshot.stack` must). */
  deploymentId?: string;
  /** New factory info (its name must be this backend's factory); required on a stack without current. */
  factory?: FactoryInfo;
}

/** Options of `write` and `commit`. */
export interface CommitOptions {
  /**
   * Write even though the current revision cannot be opened with this backend's encrypter, or
   * fails verification (digest mismatch, missing, unreadable pointer). Without it such a write is
   * refused, so plaintext never lands on encrypted history and nothing is silently stacked on top
   * of state nobody can read. For deliberate repairs (the CLI's `rollback --repair`); to change
   * keys, re-seal the history instead (`statekeeper rekey`).
   */
  replaceUnreadableCurrent?: boolean;
  /**
   * Who to record as the revision's committer (`committed-by`) instead of this process's
   * `user@host`: a server committing for a client names the client (at most 256 characters, no
   * control characters).
   */
  author?: string;
}

const MAX_AUTHOR_LENGTH = 256;

/** The committer a revision records: `author` when given (checked), else this process. */
function committerOf(options: CommitOptions): string {
  const { author } = options;
  if (author === undefined) return whoIsThis();
  const control = typeof author === "string" && hasControlCharacter(author);
  if (typeof author !== "string" || author === "" || author.length > MAX_AUTHOR_LENGTH || control)
    throw new StateKeeperError(
      "E_INVALID_ARGUMENT",
      `commit: author must be 1 to ${MAX_AUTHOR_LENGTH} characters without control characters`,
    );
  return author;
}

/** What the lock object says, for `lock status`. */
export interface LockInfo extends LockHolder {
  /** 0 for a lock without a lease. */
  leaseMs: number;
  renewals: number;
  /** What the holder left with the lock (`LockOptions.info`). */
  info?: Record<string, unknown>;
}

/** Where a revision stands: for history, verify and migrate. */
export interface RevisionInfo {
  rev: string;
  size: number;
  lastModified: Date | undefined;
}

/** One revision, opened: the snapshot, the rev it was written to replace, the key that sealed it. */
/** `Backend.diff`: the differences, and how many entries both revisions hold unchanged. */
export interface RevisionDiff extends SnapshotDiff {
  unchanged: number;
}

export interface RevisionContent {
  rev: string;
  snapshot: Snapshot;
  /** The rev that was current when it was written; `""` for a first commit; undefined if unrecorded. */
  parentRevision: string | undefined;
  /** Key id in the envelope header (`noop`, `key:…`, `passphrase`, `kms:…`). */
  sealedWith: string;
  /** Size of the sealed object in bytes. */
  size: number;
  /** `user@host` that committed it, when the revision records it (not imported revisions, nor ones written before it was recorded). */
  committedBy?: string;
}

/** `Backend.revisionSummary`: what a timeline shows of a revision. */
export interface RevisionSummary {
  rev: string;
  /** Size of the sealed object in bytes. */
  size: number;
  sealedWith: string;
  entries: number;
  generatedAt: string;
  parentRevision: string | undefined;
  committedBy?: string;
}

/** A revision that cannot be read as valid state, and why (an `E_CORRUPT`, `E_DECRYPT`, … code). */
export interface RevisionProblem {
  code: ErrorCode;
  message: string;
}

/** One row of `history()`. The opened fields are present when `open` was asked and it opened. */
export interface HistoryEntry extends RevisionInfo {
  current: boolean;
  sealedWith?: string;
  parentRevision?: string;
  entries?: number;
  generatedAt?: string;
  committedBy?: string;
  problem?: RevisionProblem;
}

export interface HistoryOptions {
  /**
   * Open every revision (digest of the current one checked) to report entries, parents, authors
   * and problems. `true` reads each revision whole (every chunk fetched and checked: what `verify`
   * needs). `"summary"` reads what the counts need: a format-1 revision whole, a format-2
   * revision's manifest and chunk list, plus the chunks its overlay touches (a problem in another
   * chunk is not seen; `verify` finds it) — what a timeline of large format-2 revisions can afford.
   */
  open?: boolean | "summary";
  /** Revisions opened at once. Default 4. */
  concurrency?: number;
  /** Called after each opened revision. */
  onProgress?: (done: number, total: number) => void;
  /** Stops opening further revisions; the call rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** The revisions of a stack with what `current` says about them. */
export interface StackHistory {
  /** The current rev, or null when the stack has none (or its pointer cannot be read). */
  current: string | null;
  /** Why `current` cannot be trusted: an unreadable pointer, or a pointer naming a missing revision. */
  currentProblem?: RevisionProblem;
  /** Oldest first. */
  revisions: HistoryEntry[];
}

/**
 * One stack's versioned state over any ObjectStore: unobin's `Backend` contract, with leased
 * locks and fenced commits. See docs/design.md for the commit protocol.
 */
export interface Backend {
  readonly factory: string;
  readonly stack: string;
  readonly store: ObjectStore;
  /** The current snapshot, verified against the digest in `current`. `E_NO_CURRENT` when never set. */
  current(): Promise<Snapshot>;
  /** The current rev. `E_NO_CURRENT` when never set. */
  currentRev(): Promise<string>;
  /**
   * One revision. `E_NOT_FOUND` for an unknown rev. The current rev is checked against the
   * digest in `current` (`E_CORRUPT` on a mismatch, or when `current` names a missing revision).
   */
  get(rev: string): Promise<Snapshot>;
  /** `get`, with the revision's parent and sealing key. */
  readRevision(rev: string): Promise<RevisionContent>;
  /**
   * What a history row with `open: "summary"` reports of one revision (entries, parent, author,
   * sealing key, size) without assembling a format-2 revision's entries. The current rev's digest
   * is checked as `get` checks it.
   */
  revisionSummary(rev: string): Promise<RevisionSummary>;
  /**
   * Entry-by-entry differences from `from` to `to`, as `diffSnapshots` gives them, with the count
   * of entries both hold unchanged. Between two format-2 revisions over chunks, only the chunks
   * the two do not share (and those their overlays touch) are read and decoded.
   */
  diff(from: string, to: string, options?: DiffOptions): Promise<RevisionDiff>;
  /**
   * Stores a new revision and returns its rev. Never moves `current`. Refused when the current
   * revision cannot be opened with this backend's encrypter or fails verification (see
   * `CommitOptions.replaceUnreadableCurrent`), and when the encoding is over the size limit.
   */
  write(snapshot: Snapshot, options?: CommitOptions): Promise<string>;
  /**
   * Points `current` at an existing rev, as compare-and-swap against the `current` this backend
   * last saw (when its lock was taken, or by its own last `setCurrent`; without a lock, its last
   * read). Someone else advanced the stack meanwhile → `FencedError`, and nothing is overwritten.
   */
  setCurrent(rev: string): Promise<void>;
  /** `write` then `setCurrent`: one commit. Returns the new rev. */
  commit(snapshot: Snapshot, options?: CommitOptions): Promise<string>;
  /**
   * One commit of what changed: the current state with `remove` then `upsert` applied (see
   * `EntryChanges`), written and made current with the locking and fencing of `commit`. On a
   * format-2 backend whose current revision is format 2 it re-chunks and writes only the chunks
   * the changes fall in, then the manifest: its cost follows the change, not the state (once the
   * current revision is cached: this backend wrote or read it). Otherwise it is a full `commit` of
   * the changed snapshot. A current revision that wraps a document is refused (change the document).
   */
  commitChanges(changes: EntryChanges): Promise<string>;
  /** Every rev, oldest first. */
  list(): Promise<string[]>;
  /** The revisions with the current one marked; with `open`, what each holds and which cannot be read. */
  history(options?: HistoryOptions): Promise<StackHistory>;
  /** Removes a revision; a missing rev is fine. The current rev is refused (`E_INVALID_ARGUMENT`). */
  delete(rev: string): Promise<void>;
  /**
   * Blocks until the stack's lock is held (see `LockOptions`), then fences `current`: no write
   * prepared under an earlier lock can land after this returns.
   */
  lock(opts?: LockOptions): Promise<Lock>;
  /**
   * Takes up a lock without a lease (`leaseMs: null`) that was taken earlier, maybe by another
   * process, so this backend commits under it — fenced exactly as if it had taken it itself.
   * Not held → `E_LOCK_LOST`; held by another lock → `E_LOCKED` naming the holder.
   */
  resumeLock(id: string): Promise<Lock>;
  /**
   * Removes the lock whoever holds it; returns who held it (undefined when unlocked). With `id`,
   * removes it only while it is that lock (a lock taken meanwhile by someone else stays):
   * held by another → `E_LOCKED` naming the holder.
   */
  forceUnlock(options?: { id?: string }): Promise<LockHolder | undefined>;
  /** Who holds the lock, or undefined. */
  lockInfo(): Promise<LockInfo | undefined>;
}

export function createBackend(store: ObjectStore, options: BackendOptions): Backend {
  const factory = validateFactoryName(options.factory);
  const stack = validateName("stack", options.stack);
  const prefix = normalizePrefix(options.prefix);
  const { encrypter } = options;
  if (
    encrypter !== undefined &&
    (typeof encrypter !== "object" ||
      encrypter === null ||
      typeof encrypter.seal !== "function" ||
      typeof encrypter.open !== "function")
  )
    throw new StateKeeperError(
      "E_INVALID_CONFIG",
      "createBackend: encrypter is not an Encrypter (use noopEncrypter() for unencrypted state)",
    );
  if (options.format !== undefined && options.format !== 1 && options.format !== 2)
    throw new StateKeeperError("E_INVALID_CONFIG", "createBackend: format must be 1 or 2");
  if (options.head !== undefined && options.head !== "pointer" && options.head !== "log")
    throw new StateKeeperError("E_INVALID_CONFIG", 'createBackend: head must be "pointer" or "log"');
  const target = options.chunkTargetBytes;
  if (target !== undefined && (!Number.isSafeInteger(target) || target < 64))
    throw new StateKeeperError(
      "E_INVALID_CONFIG",
      "createBackend: chunkTargetBytes must be an integer of at least 64",
    );
  return new StoreBackend(store, stackLayout(prefix, factory, stack), factory, stack, options);
}

/** How often a lock holder retries raising the fence while `current` keeps changing under it. */
const FENCE_ATTEMPTS = 10;
/** How many revisions back `#settleAdvance` looks for a lost compare-and-swap's revision. */
const SETTLE_DEPTH = 8;
/** Revisions `history({ open: true })` opens at once. */
const HISTORY_CONCURRENCY = 4;

/** A stored revision that cannot be read as valid state: a finding (integrity), not an outage. */
/** Chunks a full commit writes at once while it cuts the state into chunks. */
const CHUNK_WRITES_IN_FLIGHT = 8;
/**
 * A checkpoint written behind the commits (`#foldBehind`) is adopted only this soon after it
 * started, else dropped: a prune spares unneeded chunks younger than its grace (15 minutes by
 * default, and at least one lease by the docs), and it needs the lock the folding backend holds.
 */
const FOLD_ADOPT_WITHIN_MS = 30_000;
/**
 * While a checkpoint is written behind the commits, their manifests carry the growing overlay up
 * to this many times the size at which it is folded (`checkpointBytes`); past it, a commit waits
 * for the checkpoint, so the bytes a commit writes stay bounded.
 */
const FOLD_CARRY = 2;
/**
 * Chunks a checkpoint behind the commits writes at once: few, so the commits' own writes (on a
 * file store, the same thread pool and journal) are not queued behind them.
 */
const FOLD_WRITES_IN_FLIGHT = 2;

const isUnreadable = (e: unknown): e is StateKeeperError => errorKind(e) === "integrity";

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

/** `user@host` of this process, as `current` records who moved it. */
function whoIsThis(): string {
  const { user, host } = thisProcess();
  return `${user}@${host}`;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

/**
 * `current` as one read saw it, with the etag a compare-and-swap over it names (null: absent). On
 * a stack headed by a log, the head entry read (`log`), with `state` saying what it names; an
 * unlocked writer appends after that entry.
 */
interface Seen {
  state: CurrentState;
  etag: string | null;
  log?: { seq: number; entry: LogEntry };
}

/** A revision ready to be stored: its plaintext, entry count when known, and manifest (format 2). */
interface Prepared {
  plaintext: Uint8Array;
  entries: number | undefined;
  manifest: Manifest | undefined;
  /** The head it was prepared on: its parent. */
  seen: Seen;
}

/**
 * What a log says is current, in the shape of a `current` pointer. Its digest is in the commit
 * entry's own header, checked on every read of the entry, so the pointer carries none.
 */
function logPointer(commit: number, updated: string, by: string): CurrentPointer | undefined {
  return commit === 0 ? undefined : { rev: String(commit), sha256: "", size: 0, updated, by };
}

/** The sequence number a log-headed stack's rev names, or undefined for a name that is none. */
function logSeq(rev: string): number | undefined {
  if (!/^[1-9][0-9]{0,15}$/.test(rev)) return undefined;
  const seq = Number(rev);
  return Number.isSafeInteger(seq) ? seq : undefined;
}

const ABSENT: Seen = { state: NO_CURRENT, etag: null };

/** A checkpoint written behind the commits: the state `from` + `overlay`, as new chunks and a list. */
interface Fold {
  lock: HeldLease;
  from: ChunkListRef;
  overlay: Overlay;
  startedAt: number;
  /** The new list once its chunks and itself are written; `failed` when a write failed. */
  result?: ChunkListRef | "failed";
  settled: Promise<void>;
}

/** The opened fields of a history row. */
interface OpenedFields {
  sealedWith: string;
  entries: number;
  generatedAt: string;
  parentRevision: string | undefined;
  committedBy?: string | undefined;
}

/** What a format-2 manifest is written with besides its entries. */
interface ManifestHeader {
  factory: FactoryInfo;
  stack: string;
  generatedAt: string;
  outputs?: JsonObject | undefined;
  /** `user@host` of the process committing it; absent for imported revisions. */
  committedBy?: string | undefined;
}

/** What `current` records of a revision's sealed object: its digest, size and entry count (when known). */
interface Digest {
  sha256: string;
  size: number;
  entries?: number;
}

class StoreBackend implements Backend {
  readonly factory: string;
  readonly stack: string;
  readonly store: ObjectStore;
  readonly #layout: StackLayout;
  readonly #current: TransactionalObject<CurrentState>;
  readonly #encrypterOrNone: Encrypter | undefined;
  readonly #clock: (() => bigint) | undefined;
  readonly #lockDefaults: Pick<LockOptions, "leaseMs" | "pollMs">;
  readonly #lockClock: LeaseClock | undefined;
  #lock: HeldLease | undefined;
  /** `#lock` when it is held in the stack's log: its commits are appended through it. */
  #logLease: LogLease | undefined;
  readonly #log: StackLog;
  /** The head new stacks get (`BackendOptions.head`). */
  readonly #newHead: HeadMode;
  /** The stack's head, once its objects (or this backend's own first write) showed it. */
  #mode: HeadMode | undefined;
  /**
   * The `current` the next `setCurrent` must replace. Fixed by the fence while a lock is held;
   * without a lock, the last one read (undefined: not read yet).
   */
  #expected: Seen | undefined;
  /** A pointer this backend wrote whose outcome stayed unknown: the next write checks whether it landed. */
  #uncertain: CurrentPointer | undefined;
  /** The current rev this backend has opened (or sealed) itself, so writes need not re-check it. */
  #verifiedRev: string | undefined;
  #lastAllocated: { base: string; suffix: number } | undefined;
  /** Digests of revisions this backend sealed, so `setCurrent` need not read them back. */
  readonly #digests = new Map<string, Digest>();
  readonly #format: 1 | 2;
  readonly #chunks: ChunkStore;
  /** The current revision's manifest as this backend last wrote or read it, with its entry count when known. */
  #lastManifest: { rev: string; manifest: Manifest; entries?: number | undefined } | undefined;
  /** The manifest of the last revision `importRevision` wrote (a migration imports parents first). */
  #lastImported: { rev: string; manifest: Manifest } | undefined;
  /** The lock under which this backend last committed: one that committed before may fold behind. */
  #committedUnder: HeldLease | undefined;
  /** The checkpoint being written behind the commits, for a later commit to adopt (`#foldBehind`). */
  #fold: Fold | undefined;
  /** The writes of every fold still in flight: `unlock` waits for them, so none outlives the lock. */
  readonly #foldWrites = new Set<Promise<void>>();

  constructor(
    store: ObjectStore,
    layout: StackLayout,
    factory: string,
    stack: string,
    options: BackendOptions,
  ) {
    this.store = store;
    this.#layout = layout;
    this.#current = currentObject(store, layout.current);
    this.factory = factory;
    this.stack = stack;
    this.#encrypterOrNone = options.encrypter;
    this.#clock = options.clock;
    this.#lockDefaults = options.lockDefaults ?? {};
    this.#lockClock = options.lockClock;
    this.#format = options.format ?? 2;
    this.#newHead = options.head ?? "log";
    this.#log = new StackLog(store, layout.logPrefix, layout.logHint, {
      subject: `stack ${factory}/${stack}`,
      ...(options.lockClock === undefined ? {} : { clock: options.lockClock }),
    });
    this.#chunks = new ChunkStore(store, layout, () => this.#needEncrypter(), {
      targetBytes: options.chunkTargetBytes ?? TARGET_CHUNK_BYTES,
    });
    // The admin operations are private methods, reachable only through `backendInternals(this)`.
    registerBackendInternals(this, {
      encrypter: options.encrypter,
      currentPointer: () => this.#currentPointer(),
      revisions: () => this.#revisions(),
      readSealed: (rev) => this.#readSealed(rev),
      revisionKey: (rev) => this.#revisionKey(rev),
      headMode: () => this.#headMode(),
      importRevision: (rev, snapshot, parentRevision) => this.#importRevision(rev, snapshot, parentRevision),
      reseal: (rev) => this.#reseal(rev),
      sweepChunks: (o) => this.#sweepChunks(o),
      resealChunks: (onEach) => this.#resealChunks(onEach),
    });
  }

  get #name(): string {
    return `${this.factory}/${this.stack}`;
  }

  /** The encrypter, for a call that opens or seals a snapshot; refused on a metadata-only backend. */
  #needEncrypter(): Encrypter {
    const encrypter = this.#encrypterOrNone;
    if (encrypter === undefined)
      throw new StateKeeperError(
        "E_INVALID_CONFIG",
        `this backend for ${this.#name} was created without an encrypter: it reads metadata (current rev, ` +
          "revisions, history, lock) but cannot open or seal snapshots; pass encrypter " +
          "(noopEncrypter() for unencrypted state)",
      );
    return encrypter;
  }

  #holding(): boolean {
    return this.#lock !== undefined && !this.#lock.lost;
  }

  /**
   * Which head the stack has: learned once from its objects (a `current` object, or log entries),
   * then kept. An empty stack gets `BackendOptions.head`, learned again until something is written.
   */
  async #headMode(): Promise<HeadMode> {
    if (this.#mode !== undefined) return this.#mode;
    const [pointer, logged] = await Promise.all([this.store.head(this.#layout.current), this.#hasLog()]);
    if (pointer !== undefined && logged) throw this.#bothHeads();
    if (pointer !== undefined) this.#mode = "pointer";
    else if (logged) this.#mode = "log";
    return this.#mode ?? this.#newHead;
  }

  async #hasLog(): Promise<boolean> {
    for await (const o of this.store.list(this.#layout.logPrefix))
      if (this.#log.seqOf(o.key) !== undefined) return true;
    return false;
  }

  #bothHeads(): StateKeeperError {
    return new StateKeeperError(
      "E_CORRUPT",
      `${this.#name} has both a current pointer and a log, so which revision is current is not known; ` +
        `keep the one that is right and remove the other (${this.#layout.current}, or ${this.#layout.logPrefix}…)`,
      { details: { factory: this.factory, stack: this.stack } },
    );
  }

  /**
   * After this backend wrote the first object of a head on a stack it found empty: refused when
   * another writer started the other kind of head meanwhile (each checks after writing, so at
   * least one of two such writers sees the other).
   */
  async #claimHead(mode: HeadMode): Promise<void> {
    if (this.#mode !== undefined) return;
    const other =
      mode === "log" ? (await this.store.head(this.#layout.current)) !== undefined : await this.#hasLog();
    if (other) throw this.#bothHeads();
    this.#mode = mode;
  }

  /** What a stack log's entry says is current, as a read of `current` would. */
  #logSeen(head: { seq: number; entry: LogEntry }): Seen {
    const { commit, at, by } = head.entry;
    return { state: { pointer: logPointer(commit, at, by), fence: undefined }, etag: null, log: head };
  }

  /**
   * Reads `current` (or the log's head). With `observe`, an unlocked backend adopts it as the
   * expectation of its next `setCurrent` (optimistic concurrency); reads of other revisions never
   * move the expectation.
   */
  async #readCurrent(observe: boolean): Promise<Seen> {
    let seen: Seen;
    let mode = this.#mode;
    let got: Versioned<CurrentState> | undefined;
    if (mode === undefined) {
      // Not known yet: `current` is read while the log is looked for, so a pointer stack's first
      // read costs no extra round trip.
      const [read, logged] = await Promise.all([this.#current.read(), this.#hasLog()]);
      if (read !== undefined && logged) throw this.#bothHeads();
      if (read !== undefined) this.#mode = "pointer";
      else if (logged) this.#mode = "log";
      mode = this.#mode ?? this.#newHead;
      got = read;
    } else if (mode === "pointer") got = await this.#current.read();
    if (mode === "log") seen = this.#logSeen(await this.#log.headEntry());
    else seen = got === undefined ? ABSENT : { state: got.value, etag: got.etag };
    if (observe && !this.#holding()) this.#expected = seen;
    return seen;
  }

  /**
   * The head a write builds on: a log's holder knows it (it wrote the newest entry); otherwise
   * what the fence fixed, or this backend's last read.
   */
  async #seenForWrite(): Promise<Seen> {
    const lease = this.#logLease;
    if (lease !== undefined && this.#isLogHolder())
      return { state: { pointer: logPointer(lease.lastCommit, "", ""), fence: undefined }, etag: null };
    const seen = this.#expected ?? (await this.#readCurrent(true));
    // A log unlocked writer appends after an entry it read (an expectation from before the
    // stack had a head holds none).
    if ((this.#mode ?? this.#newHead) === "log" && seen.log === undefined) return this.#readCurrent(true);
    return seen;
  }

  /** The sealed bytes stored for `rev` (undefined: no such revision). */
  async #getSealed(rev: string): Promise<{ body: Uint8Array } | undefined> {
    if ((await this.#headMode()) !== "log") return this.store.get(this.#layout.snapshot(rev));
    const seq = logSeq(rev);
    if (seq === undefined) return undefined;
    const found = await this.#log.read(seq);
    return found?.entry.kind === "commit" ? { body: found.payload } : undefined;
  }

  /** The location a revision's envelope is bound to. */
  #sealLocation(rev: string): string {
    return this.#mode === "log" ? this.#layout.logLocation(rev) : this.#layout.sealLocation(rev);
  }

  async #currentPointer(): Promise<CurrentPointer | undefined> {
    const seen = await this.#readCurrent(true);
    const pointer = pointerOf(seen.state);
    if (seen.log === undefined || pointer === undefined) return pointer;
    // A log's head names its commit entry; its digest, size, writer and time are in that entry.
    const found = await this.#log.read(seen.log.entry.commit);
    if (found?.entry.payload === undefined) return pointer;
    const { sha256, size } = found.entry.payload;
    const { entries } = found.entry;
    return {
      rev: pointer.rev,
      sha256,
      size,
      ...(entries === undefined ? {} : { entries }),
      updated: found.entry.at,
      by: found.entry.by,
    };
  }

  async currentRev(): Promise<string> {
    const pointer = pointerOf((await this.#readCurrent(true)).state);
    if (pointer === undefined) throw noCurrent(this.factory, this.stack);
    return pointer.rev;
  }

  async current(): Promise<Snapshot> {
    this.#needEncrypter();
    const pointer = pointerOf((await this.#readCurrent(true)).state);
    if (pointer === undefined) throw noCurrent(this.factory, this.stack);
    const sealed = await this.#fetchVerified(pointer.rev, pointer);
    return (await this.#openRevision(pointer.rev, sealed, pointer)).snapshot;
  }

  /**
   * The sealed bytes of `rev`. When `pointer` names it, they must match its digest, and their
   * absence is corruption (current names a missing revision), not "not found".
   */
  async #fetchVerified(rev: string, pointer: CurrentPointer | undefined): Promise<Uint8Array> {
    return this.#verifySealed(rev, await this.#getSealed(rev), pointer);
  }

  #verifySealed(
    rev: string,
    got: { body: Uint8Array } | undefined,
    pointer: CurrentPointer | undefined,
  ): Uint8Array {
    const isCurrent = pointer?.rev === rev;
    if (got === undefined) {
      if (isCurrent)
        throw new StateKeeperError(
          "E_CORRUPT",
          `current names revision ${rev}, but that revision is missing`,
          {
            details: { rev },
          },
        );
      throw new StateKeeperError("E_NOT_FOUND", `no revision ${rev} in ${this.#name}`, { details: { rev } });
    }
    // A log entry's payload was checked against the digest in its own header when it was read.
    if (isCurrent && this.#mode !== "log") {
      const actual = sha256Hex(got.body);
      if (actual !== pointer.sha256 && actual !== pointer.alsoSha256)
        throw new StateKeeperError(
          "E_CORRUPT",
          `revision ${rev} does not match the digest recorded in current (expected sha256 ${pointer.sha256}, found ${actual})`,
          { details: { rev, expected: pointer.sha256, actual } },
        );
    }
    return got.body;
  }

  /** A revision's sealed bytes opened and decoded: a format-1 snapshot, or a format-2 manifest (chunks not read). */
  async #decodeRevision(
    rev: string,
    sealed: Uint8Array,
  ): Promise<{ manifest: Manifest } | { stored: StoredSnapshot }> {
    const plaintext = await this.#needEncrypter().open(sealed, this.#sealLocation(rev));
    return asCorrupt(rev, async () =>
      decodeStoredObject(plaintext, {}, (doc) =>
        doc["format-version"] === MANIFEST_FORMAT_VERSION
          ? { manifest: manifestFromObject(doc) }
          : { stored: storedSnapshotFromObject(doc) },
      ),
    );
  }

  async #openRevision(
    rev: string,
    sealed: Uint8Array,
    pointer: CurrentPointer | undefined,
  ): Promise<RevisionContent> {
    const decoded = await this.#decodeRevision(rev, sealed);
    let stored: StoredSnapshot;
    if ("manifest" in decoded) {
      const { manifest } = decoded;
      stored = {
        snapshot: await asCorrupt(rev, () => this.#chunks.assemble(manifest, rev)),
        parentRevision: manifest.parentRevision,
        ...(manifest.committedBy === undefined ? {} : { committedBy: manifest.committedBy }),
      };
      if (pointer?.rev === rev)
        this.#lastManifest = { rev, manifest, entries: stored.snapshot.entries.length };
    } else stored = decoded.stored;
    const { snapshot, parentRevision, committedBy } = stored;
    if (pointer?.rev === rev) this.#verifiedRev = rev;
    return {
      rev,
      snapshot,
      parentRevision,
      sealedWith: inspectEnvelope(sealed).keyId,
      size: sealed.byteLength,
      ...(committedBy === undefined ? {} : { committedBy }),
    };
  }

  /**
   * What `history({open: "summary"})` reports of a revision: a format-1 revision opened whole; a
   * format-2 one from its manifest, its entry count from the chunk list and the chunks its
   * overlay touches (no other chunk is read).
   */
  async #summarize(rev: string, sealed: Uint8Array): Promise<OpenedFields> {
    const decoded = await this.#decodeRevision(rev, sealed);
    const sealedWith = inspectEnvelope(sealed).keyId;
    if (!("manifest" in decoded)) {
      const { snapshot, parentRevision, committedBy } = decoded.stored;
      return {
        sealedWith,
        entries: snapshot.entries.length,
        generatedAt: snapshot.generatedAt,
        parentRevision,
        committedBy,
      };
    }
    const { manifest } = decoded;
    return {
      sealedWith,
      entries: await asCorrupt(rev, () => this.#chunks.entryCount(manifest, rev)),
      generatedAt: manifest.generatedAt,
      parentRevision: manifest.parentRevision,
      committedBy: manifest.committedBy,
    };
  }

  /** The pointer of a read of `current` that other reads check digests against (none if it is unreadable). */
  #trustedPointer(seen: Seen): CurrentPointer | undefined {
    return seen.state.unreadable === undefined ? seen.state.pointer : undefined;
  }

  async readRevision(rev: string): Promise<RevisionContent> {
    validateRev(rev);
    this.#needEncrypter();
    // The pointer is read beside the object, not adopted as an expectation: when this rev is the
    // current one, its digest is checked as `current()` checks it.
    const [seen, got] = await Promise.all([this.#readCurrent(false), this.#getSealed(rev)]);
    const pointer = this.#trustedPointer(seen);
    return this.#openRevision(rev, this.#verifySealed(rev, got, pointer), pointer);
  }

  async revisionSummary(rev: string): Promise<RevisionSummary> {
    validateRev(rev);
    this.#needEncrypter();
    const [seen, got] = await Promise.all([this.#readCurrent(false), this.#getSealed(rev)]);
    const sealed = this.#verifySealed(rev, got, this.#trustedPointer(seen));
    const { committedBy, ...rest } = await this.#summarize(rev, sealed);
    return { rev, size: sealed.byteLength, ...rest, ...(committedBy === undefined ? {} : { committedBy }) };
  }

  async get(rev: string): Promise<Snapshot> {
    return (await this.readRevision(rev)).snapshot;
  }

  async diff(from: string, to: string, options: DiffOptions = {}): Promise<RevisionDiff> {
    validateRev(from);
    validateRev(to);
    this.#needEncrypter();
    const seen = await this.#readCurrent(false);
    const pointer = this.#trustedPointer(seen);
    const load = async (rev: string) => {
      const sealed = this.#verifySealed(rev, await this.#getSealed(rev), pointer);
      return { rev, sealed, decoded: await this.#decodeRevision(rev, sealed) };
    };
    const [a, b] = await Promise.all([load(from), load(to)]);
    const ma = "manifest" in a.decoded ? a.decoded.manifest : undefined;
    const mb = "manifest" in b.decoded ? b.decoded.manifest : undefined;
    if (ma !== undefined && mb !== undefined && ma.entries === undefined && mb.entries === undefined)
      return asCorrupt(from, () => this.#chunks.diff(ma, from, mb, to, options));
    const open = async (x: typeof a) => (await this.#openRevision(x.rev, x.sealed, pointer)).snapshot;
    const [before, after] = await Promise.all([open(a), open(b)]);
    return diffCounted(before, after, options);
  }

  async #revisionKey(rev: string): Promise<string | undefined> {
    validateRev(rev);
    if ((await this.#headMode()) !== "log") return this.#layout.snapshot(rev);
    const seq = logSeq(rev);
    return seq === undefined ? undefined : this.#log.key(seq);
  }

  async #readSealed(rev: string): Promise<Uint8Array> {
    return this.#fetchVerified(validateRev(rev), undefined);
  }

  #checkOwnership(snapshot: Snapshot): void {
    if (snapshot?.stack !== this.stack || snapshot.factory?.name !== this.factory)
      throw new StateKeeperError(
        "E_INVALID_SNAPSHOT",
        `snapshot belongs to ${snapshot?.factory?.name}/${snapshot?.stack}, not to ${this.#name}`,
        { details: { factory: snapshot?.factory?.name, stack: snapshot?.stack } },
      );
  }

  /** Before any write: the lock (when held) still ours, and the store able to keep this head. */
  async #beforeWrite(): Promise<HeadMode> {
    this.#lock?.assertHeld();
    return this.#supportedHead();
  }

  /** The stack's head, once the store is known to keep it (a log needs create-only writes alone). */
  async #supportedHead(): Promise<HeadMode> {
    const mode = await this.#headMode();
    await assertStoreSupported(this.store, { compareAndSwap: mode !== "log" });
    return mode;
  }

  /**
   * Refuses to stack a new revision on a current one this backend cannot open (another key, or
   * none: plaintext over encrypted history) or that fails verification. Opening it once is
   * enough: a backend remembers the current rev it opened or wrote.
   */
  async #assertCanExtend(seen: Seen, options: CommitOptions): Promise<void> {
    if (options.replaceUnreadableCurrent === true) return;
    const { unreadable, pointer } = seen.state;
    if (unreadable !== undefined) throw this.#refusal(undefined, unreadable.error);
    if (pointer === undefined || pointer.rev === this.#verifiedRev) return;
    try {
      await this.#openRevision(pointer.rev, await this.#fetchVerified(pointer.rev, pointer), pointer);
    } catch (e) {
      if (isUnreadable(e)) throw this.#refusal(pointer.rev, e);
      throw e;
    }
  }

  #refusal(rev: string | undefined, cause: StateKeeperError): StateKeeperError {
    const what = rev === undefined ? "its current pointer" : `its current revision ${rev}`;
    let message: string;
    if (cause.code === "E_DECRYPT") {
      const { sealedWith, hint } = cause.details;
      const key =
        typeof sealedWith !== "string"
          ? "a key"
          : typeof hint === "string"
            ? `${sealedWith} (${hint})`
            : sealedWith;
      message =
        `refusing to write to ${this.#name}: ${what} is sealed with ${key}, which this backend's ` +
        `encrypter (${this.#needEncrypter().keyId}) cannot open, so the commit would mix keys in one history ` +
        `(${cause.message}). Use the key that sealed it, or change keys for the whole history with 'statekeeper rekey'`;
    } else
      message =
        `refusing to write to ${this.#name} on top of ${what}, which fails verification: ${cause.message}. ` +
        "To replace it deliberately, commit with replaceUnreadableCurrent (CLI: rollback --repair)";
    return new StateKeeperError(cause.code, message, {
      cause,
      details: { ...cause.details, ...(rev === undefined ? {} : { rev }) },
    });
  }

  /** What a new revision records as its parent: the current it is meant to replace. */
  #parentFor(seen: Seen): string | undefined {
    return seen.state.unreadable === undefined ? (seen.state.pointer?.rev ?? "") : undefined;
  }

  async write(snapshot: Snapshot, options: CommitOptions = {}): Promise<string> {
    return this.#stored(await this.#prepare(snapshot, options, false));
  }

  /** Stores a prepared revision at a fresh rev (a stack with a `current` pointer). */
  async #stored(prepared: Prepared): Promise<string> {
    const rev = await this.#storeRevision(prepared.plaintext, prepared.entries);
    if (prepared.manifest !== undefined)
      this.#lastManifest = { rev, manifest: prepared.manifest, entries: prepared.entries };
    return rev;
  }

  /**
   * Checks `snapshot` and encodes it as the next revision on the head this backend writes on. On
   * a stack headed by a log, a revision exists only as a commit: `write` alone is refused.
   */
  async #prepare(snapshot: Snapshot, options: CommitOptions, forCommit: boolean): Promise<Prepared> {
    this.#needEncrypter();
    this.#checkOwnership(snapshot);
    const committedBy = committerOf(options);
    if ((await this.#beforeWrite()) === "log" && !forCommit)
      throw new StateKeeperError(
        "E_INVALID_ARGUMENT",
        `write: ${this.#name} is headed by a log, where a revision exists only as a commit; use commit`,
      );
    const seen = await this.#seenForWrite();
    await this.#assertCanExtend(seen, options);
    const parentRevision = this.#parentFor(seen);
    // A snapshot wrapping another tool's document stays format 1: the document is stored whole,
    // byte for byte, and has no entries of its own to chunk.
    if (this.#format === 2 && snapshot.document === undefined) {
      const pointerRev = seen.state.pointer?.rev;
      const parent =
        pointerRev !== undefined && this.#lastManifest?.rev === pointerRev ? this.#lastManifest : undefined;
      const manifest = await this.#fullManifest(snapshot, parentRevision, parent, committedBy);
      return { plaintext: encodeManifest(manifest), entries: snapshot.entries.length, manifest, seen };
    }
    return {
      plaintext: encodeSnapshot(snapshot, {
        ...(parentRevision === undefined ? {} : { parentRevision }),
        committedBy,
      }),
      // A wrapped document's entries are a view of it, counted when it is opened.
      entries: snapshot.document === undefined ? snapshot.entries.length : undefined,
      manifest: undefined,
      seen,
    };
  }

  /**
   * Appends a prepared revision to the stack's log as a commit entry, sealed for that entry: by
   * the lock's holder through its lease (one create-only write, fenced by the log itself), or by
   * an unlocked writer after the head it read (refused while someone holds the lock, fenced when
   * the log moved on).
   */
  async #appendCommit(prepared: Prepared): Promise<string> {
    const encrypter = this.#needEncrypter();
    const seal = (seq: number) => encrypter.seal(prepared.plaintext, this.#layout.logLocation(String(seq)));
    let seq: number;
    const lease = this.#logLease;
    if (lease !== undefined && this.#isLogHolder()) seq = await lease.commit(seal, prepared.entries);
    else {
      const after = prepared.seen.log;
      if (after === undefined) throw new StateKeeperError("E_INTERNAL", "a log commit without a head read");
      const appended = await this.#log.commitAfter(after, seal, prepared.entries);
      this.#expected = this.#logSeen(appended);
      seq = appended.seq;
    }
    if (seq === 1) await this.#claimHead("log");
    this.#mode = "log";
    const rev = String(seq);
    this.#verifiedRev = rev;
    if (prepared.manifest !== undefined)
      this.#lastManifest = { rev, manifest: prepared.manifest, entries: prepared.entries };
    return rev;
  }

  /**
   * A format-2 manifest of the whole `snapshot`: every entry encoded and cut into chunks (CPU in
   * the size of the state), but I/O in the size of the change: on top of a parent with a chunk
   * list, the difference becomes the new manifest's overlay (only the parent's chunks that differ
   * are read); at a checkpoint, only chunks the parent lacks are written.
   */
  async #fullManifest(
    snapshot: Snapshot,
    parentRevision: string | undefined,
    parentManifest: { rev: string; manifest: Manifest } | undefined,
    committedBy: string | undefined,
  ): Promise<Manifest> {
    validateSnapshot(snapshot, { deep: false });
    const all = snapshot.entries;
    const order = all
      .map((_, i) => i)
      .sort((a, b) => compareCodePoints(all[a]?.address ?? "", all[b]?.address ?? ""));
    // Entries are encoded as the chunks are cut, so only a few chunks' worth is held at a time.
    const encoded = (function* () {
      for (const i of order) yield encodeEntry(all[i] as Entry, i);
    })();
    const target = this.#chunks.targetBytes;
    const groups = chunkStream(encoded, { targetBytes: target, maxBytes: 4 * target });
    const header: ManifestHeader = {
      factory: snapshot.factory,
      stack: snapshot.stack,
      generatedAt: snapshot.generatedAt,
      outputs: snapshot.outputs,
      committedBy,
    };
    const list = parentManifest?.manifest.chunkList;
    if (parentManifest === undefined || list === undefined)
      return this.#streamedManifest(header, parentRevision, groups);
    // On top of the parent's chunk list: a chunk it holds (same digest) is kept by reference; only
    // the others are held, to become the overlay, or written at a checkpoint.
    const { rev: parentRev, manifest: parent } = parentManifest;
    const chunks = (await this.#chunks.chunkRefs(parent, parentRev)) ?? [];
    const known = chunksByDigest(chunks);
    const parts: ChunkPart[] = [];
    let total = 1;
    for (const group of groups) {
      for (const e of group) total += entryBytes(e);
      checkTotal(total);
      // A chunk this process holds is found unchanged by its text, without hashing it.
      const keep = this.#chunks.cachedChunkOf(chunks, group) ?? known.get(chunkDigest(group));
      parts.push(keep === undefined ? { entries: group } : { keep });
    }
    if (total >= inlineMaxBytes(target)) {
      const overlay = await overlayFromParts(parts, chunks, (ref) =>
        this.#chunks.encodedEntries(ref, parentRev),
      );
      if (!needsCheckpoint(overlay, list.size, target))
        return { ...this.#manifestHeader(header, parentRevision), chunkList: list, overlay };
    }
    return this.#manifestOf(header, parentRevision, parts, parent, parentRev);
  }

  /**
   * A manifest of a state with no chunk list to build on: its entries inline when they stay under
   * the inline size, else its chunks written as they are cut (a few in flight), then a chunk list.
   * A state over the size limit is refused when the limit is passed: no revision is written (chunks
   * written before are left for prune to sweep).
   */
  async #streamedManifest(
    header: ManifestHeader,
    parentRevision: string | undefined,
    groups: Iterable<EncodedEntry[]>,
  ): Promise<Manifest> {
    const inlineMax = inlineMaxBytes(this.#chunks.targetBytes);
    const held: EncodedEntry[][] = [];
    const refs: Promise<ChunkRef>[] = [];
    let total = 1;
    const write = async (group: EncodedEntry[]) => {
      // At most CHUNK_WRITES_IN_FLIGHT at once: wait for the one started that many writes ago.
      const due = refs[refs.length - CHUNK_WRITES_IN_FLIGHT];
      if (due !== undefined) await due;
      const p = this.#chunks.writeOne(group);
      // Its failure is reported by the Promise.all below, not as an unhandled rejection meanwhile.
      p.catch(() => {});
      refs.push(p);
    };
    for (const group of groups) {
      for (const e of group) total += entryBytes(e);
      checkTotal(total);
      if (total < inlineMax) held.push(group);
      else {
        for (const g of held.splice(0)) await write(g);
        await write(group);
      }
    }
    const manifest = this.#manifestHeader(header, parentRevision);
    if (refs.length === 0) {
      manifest.entries = held.flat();
      return manifest;
    }
    manifest.chunkList = await this.#chunks.writeList(await Promise.all(refs), undefined);
    return manifest;
  }

  /** A manifest's fields other than its entries. */
  #manifestHeader(header: ManifestHeader, parentRevision: string | undefined): Manifest {
    return {
      factory: {
        name: header.factory.name,
        version: header.factory.version,
        contentRevision: header.factory.contentRevision,
      },
      stack: header.stack,
      generatedAt: header.generatedAt,
      ...(header.outputs === undefined ? {} : { outputs: header.outputs }),
      ...(parentRevision === undefined ? {} : { parentRevision }),
      ...(header.committedBy === undefined ? {} : { committedBy: header.committedBy }),
    };
  }

  /**
   * The manifest over `parts` — new chunks written, then a chunk list (a checkpoint) — or with the
   * entries inline when they are few. Chunks and a list the parent already has are not written again.
   */
  async #manifestOf(
    header: ManifestHeader,
    parentRevision: string | undefined,
    parts: ChunkPart[],
    parent: Manifest | undefined,
    parentRev: string,
  ): Promise<Manifest> {
    const manifest = this.#manifestHeader(header, parentRevision);
    const total = checkTotal(partsBytes(parts));
    if (total < inlineMaxBytes(this.#chunks.targetBytes)) {
      const entries: EncodedEntry[] = [];
      for (const p of parts)
        entries.push(...("keep" in p ? await this.#chunks.encodedEntries(p.keep, parentRev) : p.entries));
      manifest.entries = entries;
      return manifest;
    }
    const parentChunks = parent === undefined ? undefined : await this.#chunks.chunkRefs(parent, parentRev);
    const chunks = await this.#chunks.write(parts, chunksByDigest(parentChunks));
    manifest.chunkList = await this.#chunks.writeList(chunks, parent?.chunkList);
    return manifest;
  }

  /**
   * Seals `plaintext` as a new revision at a fresh rev (create-only) and returns the rev; `entries`
   * is its entry count when known, for the pointer.
   */
  async #storeRevision(plaintext: Uint8Array, entries?: number): Promise<string> {
    const base = newRevision(this.#clock);
    // Suffixes this backend already took for the same instant are skipped, so a stuck clock costs
    // one create per write rather than one per earlier collision.
    const first = this.#lastAllocated?.base === base ? this.#lastAllocated.suffix + 1 : 0;
    for (let suffix = first; suffix < MAX_REVISION_ATTEMPTS; suffix++) {
      const rev = suffix === 0 ? base : revisionWithSuffix(base, suffix);
      const sealed = await this.#needEncrypter().seal(plaintext, this.#layout.sealLocation(rev));
      if (await this.#createOnly(this.#layout.snapshot(rev), sealed)) {
        this.#lastAllocated = { base, suffix };
        this.#digests.set(rev, {
          sha256: sha256Hex(sealed),
          size: sealed.byteLength,
          ...(entries === undefined ? {} : { entries }),
        });
        return rev;
      }
    }
    throw new StateKeeperError(
      "E_CONTENDED",
      `could not allocate fresh revision after ${MAX_REVISION_ATTEMPTS} attempts (base ${base})`,
    );
  }

  /** Create-only put; false when the key is taken (the store has settled a lost response of ours). */
  async #createOnly(key: string, body: Uint8Array): Promise<boolean> {
    try {
      await this.store.put(key, body, { ifNoneMatch: "*" });
      return true;
    } catch (e) {
      if (isStoreError(e, "PRECONDITION_FAILED")) return false;
      throw e;
    }
  }

  async #digestOf(rev: string): Promise<Digest> {
    const known = this.#digests.get(rev);
    if (known !== undefined) return known;
    const got = await this.store.get(this.#layout.snapshot(rev));
    if (got === undefined)
      throw new StateKeeperError("E_NOT_FOUND", `set-current ${rev}: no such revision in ${this.#name}`, {
        details: { rev },
      });
    return { sha256: sha256Hex(got.body), size: got.body.byteLength };
  }

  async setCurrent(rev: string): Promise<void> {
    validateRev(rev);
    if ((await this.#beforeWrite()) === "log") {
      await this.#appendRollback(rev);
      return;
    }
    const digest = await this.#digestOf(rev);
    await this.#advanceCurrent(rev, digest);
  }

  /**
   * `setCurrent` on a stack headed by a log: a new commit with the content of `rev` (its manifest
   * or snapshot re-sealed for the new entry, chunks shared), unless `rev` is current already.
   */
  async #appendRollback(rev: string): Promise<void> {
    this.#needEncrypter();
    const seen = await this.#seenForWrite();
    if (seen.state.pointer?.rev === rev) return;
    const sealed = await this.#fetchVerified(rev, undefined);
    const decoded = await this.#decodeRevision(rev, sealed);
    const parentRevision = this.#parentFor(seen);
    const committedBy = whoIsThis();
    let prepared: Prepared;
    if ("manifest" in decoded) {
      const { parentRevision: _old, ...rest } = decoded.manifest;
      const manifest: Manifest = {
        ...rest,
        ...(parentRevision === undefined ? {} : { parentRevision }),
        committedBy,
      };
      prepared = { plaintext: encodeManifest(manifest), entries: undefined, manifest, seen };
    } else {
      const { snapshot } = decoded.stored;
      prepared = {
        plaintext: encodeSnapshot(snapshot, {
          ...(parentRevision === undefined ? {} : { parentRevision }),
          committedBy,
        }),
        entries: undefined,
        manifest: undefined,
        seen,
      };
    }
    await this.#appendCommit(prepared);
  }

  /**
   * What the next compare-and-swap of `current` must name. After a write of ours whose outcome
   * stayed unknown (the store could not even be read to settle it), `current` is read again: if
   * it holds exactly the pointer we wrote (our rev, created only by us, and its digest), that
   * write landed and its version is the one to replace.
   */
  async #expectation(): Promise<Seen> {
    const uncertain = this.#uncertain;
    if (uncertain !== undefined) {
      this.#uncertain = undefined;
      const now = await this.#readCurrent(false);
      const p = now.state.pointer;
      if (p?.rev === uncertain.rev && p.sha256 === uncertain.sha256) this.#expected = now;
    }
    return this.#expected ?? (await this.#readCurrent(true));
  }

  async #advanceCurrent(rev: string, digest: Digest & { alsoSha256?: string }): Promise<void> {
    const seen = await this.#expectation();
    // Resealing the current rev keeps its count; another rev's is known only if this backend wrote it.
    const entries =
      digest.entries ?? (seen.state.pointer?.rev === rev ? seen.state.pointer.entries : undefined);
    const pointer: CurrentPointer = {
      rev,
      sha256: digest.sha256,
      ...(digest.alsoSha256 === undefined ? {} : { alsoSha256: digest.alsoSha256 }),
      size: digest.size,
      ...(entries === undefined ? {} : { entries }),
      updated: new Date().toISOString(),
      by: whoIsThis(),
    };
    const next: CurrentState = { pointer, fence: seen.state.fence };
    let swapped: Versioned<CurrentState> | undefined;
    try {
      swapped = await this.#current.swap(next, seen.etag, { unsettled: "throw" });
    } catch (e) {
      if (isStoreError(e, "PRECONDITION_FAILED", "CONFLICT") && e.outcomeUnknown) {
        const settled = await this.#settleAdvance(rev, seen).catch(() => "unknown" as const);
        if (settled === "refused") swapped = undefined;
        else if (settled !== "unknown") return this.#landedThenReplaced(rev, settled, seen);
        else {
          this.#uncertain = pointer;
          throw new StoreError(
            "UNAVAILABLE",
            `setting current of ${this.#name} to ${rev}: the store's answer was lost, and current has moved on since; whether ${rev} became current before that is unknown (its history tells)`,
            { cause: e, key: this.#layout.current, retryable: false, outcomeUnknown: true, details: { rev } },
          );
        }
      } else {
        if (isStoreError(e) && e.outcomeUnknown) this.#uncertain = pointer;
        throw e;
      }
    }
    if (swapped !== undefined) {
      this.#expected = { state: swapped.value, etag: swapped.etag };
      if (this.#digests.has(rev)) this.#verifiedRev = rev;
      await this.#claimHead("pointer");
      return;
    }
    const why = this.#describeAdvance(
      await this.#readCurrent(false).catch(() => undefined),
      seen.state.fence,
    );
    // A holder that is fenced out has lost its lock, whatever its lease timer says.
    if (this.#holding()) this.#lock?.lose(`fenced out of ${this.#name}: ${why}`);
    throw new FencedError(`refusing to set current to ${rev}: ${why}`, { details: { rev } });
  }

  /**
   * Settles a compare-and-swap of `current` to `rev` whose answer was lost and whose retry found
   * another version: did ours land and get replaced by a writer that built on it (a takeover's
   * fence keeps our pointer; a commit names it as its parent), or did another writer win over
   * the version we named? Walks the line back from what `current` names now, a few revisions
   * deep: reaching `rev` means it landed (returns what `current` is now); reaching the revision we
   * built on means it did not. Anything else (a longer line, a revision that does not open) stays
   * unknown.
   */
  async #settleAdvance(rev: string, base: Seen): Promise<Seen | "refused" | "unknown"> {
    const now = await this.#readCurrent(false);
    const baseRev = base.state.pointer?.rev;
    let at = pointerOf(now.state)?.rev;
    for (let step = 0; step <= SETTLE_DEPTH; step++) {
      if (at === rev) return now;
      if (at === baseRev) return "refused";
      if (at === undefined) return "unknown";
      const decoded = await this.#decodeRevision(at, await this.#fetchVerified(at, undefined));
      at = "manifest" in decoded ? decoded.manifest.parentRevision : decoded.stored.parentRevision;
    }
    return "unknown";
  }

  /**
   * Our move of `current` to `rev` landed, and `now` has replaced it since: the commit stands. A
   * holder whose fence was replaced has lost its lock (its next write is refused), and nothing
   * is expected of `current` until it is read again.
   */
  async #landedThenReplaced(rev: string, now: Seen, seen: Seen): Promise<void> {
    const untouched = now.state.pointer?.rev === rev && now.state.fence?.lock === seen.state.fence?.lock;
    if (this.#holding() && untouched) this.#expected = now;
    else {
      if (this.#holding())
        this.#lock?.lose(
          `fenced out of ${this.#name} after its commit of ${rev} landed: ${this.#describeAdvance(now, seen.state.fence)}`,
        );
      this.#expected = undefined;
    }
    if (this.#digests.has(rev) && now.state.pointer?.rev === rev) this.#verifiedRev = rev;
    await this.#claimHead("pointer");
  }

  /** Who moved `current` since this writer last saw it, as far as the object tells. */
  #describeAdvance(now: Seen | undefined, ourFence: Fence | undefined): string {
    const base = `${this.#name} was advanced by someone else since this writer last saw it`;
    if (now === undefined) return base;
    if (now.etag === null) return `${base} (current was removed)`;
    const fence = now.state.fence;
    if (fence !== undefined && fence.lock !== ourFence?.lock)
      return (
        `${this.#name} was fenced by a newer lock (epoch ${fence.epoch}, taken by ${fence.by} at ${fence.at}): ` +
        "this writer's lock was taken over or force-unlocked"
      );
    const p = now.state.pointer;
    return p === undefined ? base : `${base} (it now names ${p.rev}, set by ${p.by} at ${p.updated})`;
  }

  async commit(snapshot: Snapshot, options: CommitOptions = {}): Promise<string> {
    return this.#commitPrepared(await this.#prepare(snapshot, options, true));
  }

  /**
   * Makes a prepared revision current: on a log, one commit entry; on a pointer, the revision
   * stored at a fresh rev, then `current` moved to it.
   */
  async #commitPrepared(prepared: Prepared): Promise<string> {
    const lock = this.#lock;
    let rev: string;
    if (prepared.seen.log !== undefined || this.#isLogHolder()) rev = await this.#appendCommit(prepared);
    else {
      rev = await this.#stored(prepared);
      await this.setCurrent(rev);
    }
    this.#committedUnder = lock;
    return rev;
  }

  /** This backend holds the lock, and in the stack's log. */
  #isLogHolder(): boolean {
    return this.#logLease !== undefined && this.#lock === this.#logLease;
  }

  async commitChanges(changes: EntryChanges): Promise<string> {
    this.#needEncrypter();
    if (typeof changes !== "object" || changes === null)
      throw new StateKeeperError("E_INVALID_ARGUMENT", "commitChanges: changes must be an object");
    const upsertList = changes.upsert ?? [];
    const removeList = changes.remove ?? [];
    if (!Array.isArray(upsertList) || !Array.isArray(removeList))
      throw new StateKeeperError("E_INVALID_ARGUMENT", "commitChanges: upsert and remove must be lists");
    const remove = new Set<string>();
    for (const a of removeList) {
      if (typeof a !== "string" || a === "")
        throw new StateKeeperError("E_INVALID_ARGUMENT", "commitChanges: remove holds a non-address");
      if (remove.has(a))
        throw new StateKeeperError(
          "E_INVALID_ARGUMENT",
          `commitChanges: ${JSON.stringify(a)} is removed twice`,
        );
      remove.add(a);
    }
    await this.#beforeWrite();
    const seen = await this.#seenForWrite();
    await this.#assertCanExtend(seen, {});
    const pointer = seen.state.pointer;
    const cached = (): Manifest | undefined =>
      pointer !== undefined && this.#lastManifest?.rev === pointer.rev
        ? this.#lastManifest.manifest
        : undefined;
    let manifest = cached();
    let base: Snapshot | undefined;
    if (pointer !== undefined && manifest === undefined) {
      base = (await this.#openRevision(pointer.rev, await this.#fetchVerified(pointer.rev, pointer), pointer))
        .snapshot;
      manifest = cached();
      if (base.document !== undefined)
        throw new StateKeeperError(
          "E_INVALID_ARGUMENT",
          `commitChanges: the current revision of ${this.#name} wraps a document; commit a changed document instead`,
        );
    }
    const factory = changes.factory ?? manifest?.factory ?? base?.factory;
    if (factory === undefined)
      throw new StateKeeperError(
        "E_INVALID_ARGUMENT",
        `commitChanges: ${this.#name} has no current revision, so the changes must name the factory`,
      );
    const outputs = changes.outputs !== undefined ? changes.outputs : (manifest?.outputs ?? base?.outputs);
    // The header with the upserts as its entries: validated as a snapshot is (deep), before any write.
    const header: Snapshot = {
      formatVersion: FORMAT_VERSION,
      factory,
      stack: changes.deploymentId ?? this.stack,
      generatedAt: newRevision(this.#clock),
      entries: upsertList,
      ...(outputs === undefined ? {} : { outputs }),
    };
    this.#checkOwnership(header);
    validateSnapshot(header);
    const upsert = new Map(upsertList.map((e, i) => [e.address, encodeEntry(e, i)]));

    if (
      this.#format === 2 &&
      pointer !== undefined &&
      manifest !== undefined &&
      manifest.entries === undefined
    ) {
      const {
        plaintext,
        entries,
        manifest: next,
      } = await this.#overlayRevision(
        header,
        this.#parentFor(seen),
        manifest,
        pointer.rev,
        // A log's head does not carry the count; the revision this backend last wrote or read does.
        pointer.entries ?? (this.#lastManifest?.rev === pointer.rev ? this.#lastManifest.entries : undefined),
        upsert,
        remove,
      );
      return this.#commitPrepared({ plaintext, entries, manifest: next, seen });
    }
    // Any other case is a full commit of the changed snapshot (in this backend's format).
    if (base === undefined && manifest !== undefined && pointer !== undefined)
      base = await this.#chunks.assemble(manifest, pointer.rev);
    const entries = new Map((base?.entries ?? []).map((e) => [e.address, e]));
    for (const a of remove) if (!entries.delete(a)) throw noSuchEntry(a);
    for (const e of upsertList) entries.set(e.address, e);
    return this.commit({ ...header, entries: [...entries.values()] });
  }

  /**
   * The revision `changes` make of the chunked format-2 revision `parentRev`: its overlay grown by
   * the changes (only the manifest to write), or, once the overlay is large, a checkpoint (the
   * changed chunks re-planned and written here, then a new chunk list; the manifest to write).
   */
  async #overlayRevision(
    snapshotHeader: Snapshot,
    parentRevision: string | undefined,
    parent: Manifest,
    parentRev: string,
    parentEntries: number | undefined,
    upsert: ReadonlyMap<string, EncodedEntry>,
    remove: ReadonlySet<string>,
  ): Promise<{ plaintext: Uint8Array; entries: number | undefined; manifest: Manifest }> {
    const header: ManifestHeader = { ...snapshotHeader, committedBy: whoIsThis() };
    const chunks = (await this.#chunks.chunkRefs(parent, parentRev)) ?? [];
    const load = (ref: ChunkRef) => this.#chunks.encodedEntries(ref, parentRev);
    const overlay = await growOverlay(chunks, parent.overlay, upsert, remove, load);
    const target = this.#chunks.targetBytes;
    const list = parent.chunkList;
    if (list !== undefined) {
      // The new state as the parent's chunks and the grown overlay hold it, however the manifest
      // records it (on those chunks, or on a checkpoint adopted from behind the commits).
      checkTotal(chunks.reduce((n, c) => n + c.size, 0) + overlayBytes(overlay));
      const onList = (chunkList: ChunkListRef, o: Overlay) => {
        const next: Manifest = { ...this.#manifestHeader(header, parentRevision), chunkList, overlay: o };
        const entries = countAfter(parentEntries, parent.overlay, upsert, remove, (a) =>
          this.#chunks.holdsCached(chunks, a, parentRev),
        );
        return { plaintext: encodeManifest(next), entries, manifest: next };
      };
      const adopted = await this.#adoptFold(list, chunks, overlay, load);
      if (adopted !== undefined) return onList(adopted.list, adopted.overlay);
      if (
        !needsCheckpoint(overlay, list.size, target) ||
        (await this.#foldBehind(list, chunks, overlay, load))
      )
        return onList(list, overlay);
    }
    const parts = await planOverlay(chunks, overlay, load, target);
    const next = await this.#manifestOf(header, parentRevision, parts, parent, parentRev);
    return { plaintext: encodeManifest(next), entries: partsEntries(parts), manifest: next };
  }

  /**
   * Starts the checkpoint of the state `list` + `overlay` behind the commits, and says whether the
   * commit may carry `overlay` meanwhile (also when such a checkpoint is already in flight). Only
   * under a held lock that has committed before (an engine committing after each action): the new
   * chunks and list are written while this commit's manifest is, and a later commit of the same
   * lock adopts them (`#adoptFold`), so no commit waits for a checkpoint's writes. Not when the
   * overlay is already past what a commit carries (`FOLD_CARRY`), nor when the folded state would be inline.
   */
  async #foldBehind(
    list: ChunkListRef,
    chunks: readonly ChunkRef[],
    overlay: Overlay,
    load: (ref: ChunkRef) => Promise<readonly EncodedEntry[]>,
  ): Promise<boolean> {
    const lock = this.#lock;
    if (lock === undefined || lock.lost || this.#committedUnder !== lock) return false;
    const target = this.#chunks.targetBytes;
    if (this.#pastCarry(overlay, list)) return false;
    if (this.#fold !== undefined) return true;
    const parts = await planOverlay(chunks, overlay, load, target);
    if (partsBytes(parts) < inlineMaxBytes(target)) return false;
    const writes = (async () => {
      const written = await this.#chunks.write(parts, chunksByDigest(chunks), FOLD_WRITES_IN_FLIGHT);
      return this.#chunks.writeList(written, list);
    })();
    const fold: Fold = {
      lock,
      from: list,
      overlay,
      startedAt: performance.now(),
      settled: Promise.resolve(),
    };
    fold.settled = writes.then(
      (result) => {
        fold.result = result;
      },
      () => {
        // A failed checkpoint is dropped: its overlay stays with the commits, and a later one
        // (or, past `FOLD_CARRY`, a checkpoint in the commit itself) folds it.
        fold.result = "failed";
      },
    );
    this.#foldWrites.add(fold.settled);
    void fold.settled.then(() => this.#foldWrites.delete(fold.settled));
    this.#fold = fold;
    return true;
  }

  /**
   * The checkpoint written behind the commits, as the chunk list a commit on `list` + `overlay`
   * can stand on instead, with the overlay that turns it into that state; undefined when there is
   * none to adopt: none finished, or it was started under another lock, on another list, failed,
   * or too long ago. A commit whose overlay is past `FOLD_CARRY` waits for one in flight.
   */
  async #adoptFold(
    list: ChunkListRef,
    chunks: readonly ChunkRef[],
    overlay: Overlay,
    load: (ref: ChunkRef) => Promise<readonly EncodedEntry[]>,
  ): Promise<{ list: ChunkListRef; overlay: Overlay } | undefined> {
    const fold = this.#fold;
    if (fold === undefined) return undefined;
    if (
      fold.lock !== this.#lock ||
      fold.lock.lost ||
      fold.from.id !== list.id ||
      fold.from.sha256 !== list.sha256
    ) {
      this.#fold = undefined;
      return undefined;
    }
    if (fold.result === undefined) {
      if (!this.#pastCarry(overlay, list)) return undefined;
      await fold.settled;
    }
    this.#fold = undefined;
    const folded = fold.result;
    if (folded === undefined || folded === "failed") return undefined;
    if (performance.now() - fold.startedAt > FOLD_ADOPT_WITHIN_MS) return undefined;
    return { list: folded, overlay: await rebaseOverlay(chunks, fold.overlay, overlay, load) };
  }

  /** Whether `overlay` is too large for a commit to carry while a checkpoint is written behind it. */
  #pastCarry(overlay: Overlay, list: ChunkListRef): boolean {
    return overlayBytes(overlay) > FOLD_CARRY * checkpointBytes(overlay, list.size, this.#chunks.targetBytes);
  }

  /** Waits for the writes of checkpoints folding behind the commits, and forgets them. */
  async #settleFolds(): Promise<void> {
    this.#fold = undefined;
    await Promise.all([...this.#foldWrites]);
  }

  async #revisions(): Promise<RevisionInfo[]> {
    if ((await this.#headMode()) === "log")
      return (await this.#log.commits()).map(({ seq, size, lastModified }) => ({
        rev: String(seq),
        size,
        lastModified,
      }));
    const byRev = new Map<string, RevisionInfo>();
    for await (const o of this.store.list(this.#layout.snapshotsPrefix)) {
      const name = o.key.slice(this.#layout.snapshotsPrefix.length);
      if (name.includes("/") || !name.endsWith(SNAPSHOT_SUFFIX)) continue;
      const rev = name.slice(0, -SNAPSHOT_SUFFIX.length);
      byRev.set(rev, { rev, size: o.size, lastModified: o.lastModified });
    }
    return sortRevisions([...byRev.keys()]).map((rev) => byRev.get(rev) as RevisionInfo);
  }

  async list(): Promise<string[]> {
    return (await this.#revisions()).map((r) => r.rev);
  }

  async history(options: HistoryOptions = {}): Promise<StackHistory> {
    if (options.open === true) this.#needEncrypter();
    const [seen, infos] = await Promise.all([this.#readCurrent(false), this.#revisions()]);
    const pointer = this.#trustedPointer(seen);
    const revisions: HistoryEntry[] = infos.map((info) => ({ ...info, current: info.rev === pointer?.rev }));
    const history: StackHistory = { current: pointer?.rev ?? null, revisions };
    const unreadable = seen.state.unreadable;
    if (unreadable !== undefined)
      history.currentProblem = { code: unreadable.error.code, message: unreadable.error.message };
    else if (pointer !== undefined && !revisions.some((r) => r.current))
      history.currentProblem = {
        code: "E_CORRUPT",
        message: `current names revision ${pointer.rev}, but that revision is missing`,
      };
    if (options.open !== true && options.open !== "summary") return history;
    const whole = options.open === true;
    let done = 0;
    await mapBounded(revisions, options.concurrency ?? HISTORY_CONCURRENCY, async (row) => {
      options.signal?.throwIfAborted();
      try {
        const sealed = await this.#fetchVerified(row.rev, pointer);
        let summary: OpenedFields;
        if (whole) {
          const opened = await this.#openRevision(row.rev, sealed, pointer);
          summary = {
            ...opened,
            entries: opened.snapshot.entries.length,
            generatedAt: opened.snapshot.generatedAt,
          };
        } else summary = await this.#summarize(row.rev, sealed);
        row.sealedWith = summary.sealedWith;
        if (summary.parentRevision !== undefined) row.parentRevision = summary.parentRevision;
        row.entries = summary.entries;
        row.generatedAt = summary.generatedAt;
        if (summary.committedBy !== undefined) row.committedBy = summary.committedBy;
      } catch (e) {
        if (!isUnreadable(e)) throw e;
        row.problem = { code: e.code, message: e.message };
        try {
          // Which key sealed it still helps the operator, even when it cannot be opened.
          row.sealedWith = inspectEnvelope(await this.#fetchVerified(row.rev, undefined)).keyId;
        } catch {
          // Not an envelope at all: the problem already says so.
        }
      }
      options.onProgress?.(++done, revisions.length);
    });
    return history;
  }

  async delete(rev: string): Promise<void> {
    validateRev(rev);
    if ((await this.#supportedHead()) === "log") return this.#deleteCommit(rev);
    const pointer = await this.#currentPointer();
    if (pointer?.rev === rev)
      throw new StateKeeperError(
        "E_INVALID_ARGUMENT",
        `refusing to delete ${rev}: it is the current revision of ${this.#name}`,
        { details: { rev } },
      );
    await this.store.delete(this.#layout.snapshot(rev));
    this.#digests.delete(rev);
  }

  /**
   * Removes the commit entry `rev` of a log-headed stack. A rev that names no commit entry (a
   * lock entry's number, a name that is no number) is a missing revision: fine.
   */
  async #deleteCommit(rev: string): Promise<void> {
    const head = await this.#log.headEntry();
    if (String(head.entry.commit) === rev)
      throw new StateKeeperError(
        "E_INVALID_ARGUMENT",
        `refusing to delete ${rev}: it is the current revision of ${this.#name}`,
        { details: { rev } },
      );
    const seq = logSeq(rev);
    if (seq === undefined || seq >= head.seq) return;
    if ((await this.#log.read(seq))?.entry.kind !== "commit") return;
    await this.#log.remove(seq, head.seq);
  }

  /** What `lock()` asks of the lease, in either head. */
  #leaseOptions(opts: LockOptions, signal: AbortSignal | undefined) {
    const leaseMs =
      opts.leaseMs === null ? undefined : (opts.leaseMs ?? this.#lockDefaults.leaseMs ?? DEFAULT_LEASE_MS);
    return {
      hint: "run 'statekeeper lock force-unlock' if the holder is gone",
      wait: opts.wait ?? true,
      operation: opts.operation ?? "lock",
      ...(leaseMs === undefined ? {} : { leaseMs }),
      ...(opts.id === undefined ? {} : { id: opts.id }),
      ...(opts.holder === undefined ? {} : { holder: opts.holder }),
      ...(opts.info === undefined ? {} : { info: opts.info }),
      pollMs: opts.pollMs ?? this.#lockDefaults.pollMs ?? DEFAULT_POLL_MS,
      ...(signal === undefined ? {} : { signal }),
      ...(opts.onWait === undefined ? {} : { onWait: opts.onWait }),
    };
  }

  /** Takes a log-headed stack's lock: a `lock` entry, which is also the fence. */
  async #lockLog(opts: LockOptions, signal: AbortSignal | undefined): Promise<Lock> {
    const lease = await this.#log.acquire(this.#leaseOptions(opts, signal));
    // The lock entry started the log (entry 1): check that no pointer was started meanwhile,
    // before the stack is taken for a log.
    if (lease.epoch === 1) {
      try {
        await this.#claimHead("log");
      } catch (e) {
        await lease.release().catch(() => undefined);
        throw e;
      }
    }
    this.#adoptLogLease(lease);
    return this.#handle(lease);
  }

  #adoptLogLease(lease: LogLease): void {
    this.#lock = this.#logLease = lease;
    this.#mode = "log";
    // The holder builds on the head it knows; an unlocked writer's last read no longer counts.
    this.#expected = undefined;
  }

  async lock(opts: LockOptions = {}): Promise<Lock> {
    if (this.#holding())
      throw new StateKeeperError(
        "E_INVALID_ARGUMENT",
        `this backend already holds the lock on ${this.#name}; unlock it first`,
      );
    const mode = await this.#supportedHead();
    // One deadline for waiting, fencing and waiting again.
    const signal = combineSignals(opts.signal, opts.timeoutMs);
    if (mode === "log") return this.#lockLog(opts, signal);
    let held: HeldLease;
    for (;;) {
      held = await acquireLease(this.store, this.#layout.lock, {
        subject: `stack ${this.#name}`,
        ...this.#leaseOptions(opts, signal),
        ...(this.#lockClock === undefined ? {} : { clock: this.#lockClock }),
      });
      this.#lock = held;
      try {
        await this.#raiseFence(held);
        break;
      } catch (e) {
        this.#lock = undefined;
        await held.release().catch(() => undefined);
        // The lease lapsed while fencing (the process was paused, the store slow): the lock is
        // not held yet, so wait for it again rather than fail a call that promises to block.
        if (!hasErrorCode(e, "E_LOCK_LOST") || opts.wait === false) throw e;
      }
    }
    return this.#handle(held);
  }

  async resumeLock(id: string): Promise<Lock> {
    if (this.#holding())
      throw new StateKeeperError(
        "E_INVALID_ARGUMENT",
        `this backend already holds the lock on ${this.#name}; unlock it first`,
      );
    if ((await this.#supportedHead()) === "log") {
      const lease = await this.#log.resume(id);
      this.#adoptLogLease(lease);
      return this.#handle(lease);
    }
    const held = await resumeLease(this.store, this.#layout.lock, id, {
      subject: `stack ${this.#name}`,
      ...(this.#lockClock === undefined ? {} : { clock: this.#lockClock }),
    });
    this.#lock = held;
    try {
      // Normally the fence already names this lock (raised when it was taken), and what `current`
      // holds now is this holder's own doing; a holder that crashed before fencing fences now.
      await this.#raiseFence(held);
    } catch (e) {
      this.#lock = undefined;
      throw e;
    }
    return this.#handle(held);
  }

  #handle(held: HeldLease): Lock {
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
        if (this.#lock === held) await this.#settleFolds();
        if (this.#lock === held) {
          this.#lock = undefined;
          this.#logLease = undefined;
          // The next unlocked writer fences against what it reads, not what this holder saw.
          this.#expected = undefined;
        }
        return held.release();
      },
    };
  }

  /**
   * Takes `current` for the new lock by compare-and-swap: the pointer is kept (an unreadable one
   * too, its bytes preserved), the fence epoch raised and stamped with this lock's id. From then
   * on every write prepared under an earlier lock (a holder paused past its lease, a request
   * stuck in the network) names an etag that no longer exists, so it fails instead of landing
   * after the takeover. A stale write that lands before the fence only makes it retry on top.
   */
  async #raiseFence(held: HeldLease): Promise<void> {
    const { after } = await this.#current.update(
      (now) => {
        held.assertHeld();
        const state = now?.value ?? NO_CURRENT;
        // Fenced by this very lock already: a retried or resumed lock (lock ids are never reused).
        if (now !== undefined && state.fence?.lock === held.id) return { keep: true };
        const fence: Fence = {
          epoch: (state.fence?.epoch ?? 0) + 1,
          lock: held.id,
          by: whoIsThis(),
          at: new Date().toISOString(),
        };
        return { put: { ...state, fence } };
      },
      { maxAttempts: FENCE_ATTEMPTS },
    );
    if (after === undefined) throw new StateKeeperError("E_INTERNAL", "fencing current wrote nothing");
    this.#expected = { state: after.value, etag: after.etag };
    await this.#claimHead("pointer");
  }

  async lockInfo(): Promise<LockInfo | undefined> {
    const record =
      (await this.#headMode()) === "log"
        ? await this.#log.lockRecord()
        : (await readLease(this.store, this.#layout.lock))?.record;
    if (record === undefined) return undefined;
    const { renewals, leaseMs, ...holder } = record;
    return { ...holder, leaseMs: leaseMs ?? 0, renewals };
  }

  async forceUnlock(options: { id?: string } = {}): Promise<LockHolder | undefined> {
    if ((await this.#headMode()) === "log") return this.#log.forceUnlock(options);
    return breakLease(this.store, this.#layout.lock, { ...options, subject: `stack ${this.#name}` });
  }

  async #importRevision(rev: string, snapshot: Snapshot, parentRevision?: string): Promise<string> {
    validateRev(rev);
    this.#needEncrypter();
    this.#checkOwnership(snapshot);
    if ((await this.#beforeWrite()) === "log") return this.#importCommit(snapshot, parentRevision);
    await this.#assertCanExtend(this.#expected ?? (await this.#readCurrent(true)), {});
    let plaintext: Uint8Array;
    let manifest: Manifest | undefined;
    if (this.#format === 2 && snapshot.document === undefined) {
      // Chunks the revision imported just before (usually its parent) holds are not written again.
      manifest = await this.#fullManifest(snapshot, parentRevision, this.#lastImported, undefined);
      plaintext = encodeManifest(manifest);
    } else plaintext = encodeSnapshot(snapshot, parentRevision === undefined ? {} : { parentRevision });
    const key = this.#layout.snapshot(rev);
    const sealed = await this.#needEncrypter().seal(plaintext, this.#layout.sealLocation(rev));
    if (await this.#createOnly(key, sealed)) {
      if (manifest !== undefined) this.#lastImported = { rev, manifest };
      return rev;
    }
    // Already there: fine if it holds the same snapshot (a re-run migration), else refuse.
    const existing = await this.readRevision(rev);
    if (!equalBytes(encodeCanonical(existing.snapshot), encodeCanonical(snapshot)))
      throw new StateKeeperError("E_ALREADY_EXISTS", `revision ${rev} already exists with other content`, {
        details: { rev },
      });
    return rev;
  }

  /**
   * An imported revision on a stack headed by a log: a commit appended under this backend's lock
   * (an import is an administrator's copy, made while holding it), recording `parentRevision` as
   * given and no committer, its chunks shared with the revision imported before it.
   */
  async #importCommit(snapshot: Snapshot, parentRevision: string | undefined): Promise<string> {
    if (!this.#isLogHolder())
      throw new StateKeeperError(
        "E_INVALID_ARGUMENT",
        `importing into ${this.#name}, a stack headed by a log, needs its lock: an import appends commits`,
      );
    const seen = await this.#seenForWrite();
    await this.#assertCanExtend(seen, {});
    let prepared: Prepared;
    if (this.#format === 2 && snapshot.document === undefined) {
      const manifest = await this.#fullManifest(snapshot, parentRevision, this.#lastImported, undefined);
      prepared = { plaintext: encodeManifest(manifest), entries: snapshot.entries.length, manifest, seen };
    } else
      prepared = {
        plaintext: encodeSnapshot(snapshot, parentRevision === undefined ? {} : { parentRevision }),
        entries: undefined,
        manifest: undefined,
        seen,
      };
    const rev = await this.#appendCommit(prepared);
    if (prepared.manifest !== undefined) this.#lastImported = { rev, manifest: prepared.manifest };
    return rev;
  }

  async #sweepChunks(options: SweepOptions): Promise<ChunkSweep> {
    const prefix = this.#layout.chunksPrefix;
    const listed: ObjectInfo[] = [];
    for await (const o of this.store.list(prefix))
      if (!o.key.slice(prefix.length).includes("/")) listed.push(o);
    const result: ChunkSweep = { chunks: listed.length, deleted: 0, deletedBytes: 0, young: 0 };
    if (listed.length === 0) return result;
    if (this.#encrypterOrNone === undefined)
      return { ...result, skipped: "the backend has no encrypter to open the revisions that name chunks" };
    // The store's clock: the lock this sweep runs under was written (or renewed) before now; in a
    // log, its newest entry is this holder's lock or renewal.
    const now =
      (await this.#headMode()) === "log"
        ? (await this.store.head(this.#log.key(Math.max(1, await this.#log.headSeq()))))?.lastModified
        : (await this.store.head(this.#layout.lock))?.lastModified;
    if (now === undefined)
      return {
        ...result,
        skipped: "the store gives no modification time for the lock, so no chunk's age is known",
      };
    const needed = new Set<string>();
    const listsSeen = new Set<string>();
    for (const { rev } of await this.#revisions()) {
      const got = await this.#getSealed(rev);
      if (got === undefined) continue;
      let ids: string[];
      try {
        const decoded = await this.#decodeRevision(rev, got.body);
        if (!("manifest" in decoded)) continue;
        const list = decoded.manifest.chunkList;
        if (list !== undefined) {
          if (listsSeen.has(list.id)) continue;
          listsSeen.add(list.id);
        }
        ids = await this.#chunks.referenced(decoded.manifest, rev);
      } catch (e) {
        if (!isUnreadable(e)) throw e;
        return {
          ...result,
          skipped: `revision ${rev} cannot be opened (${e.message}), so what it needs is unknown`,
        };
      }
      for (const id of ids) needed.add(id);
    }
    const doomed = listed.filter((o) => !needed.has(o.key.slice(prefix.length)));
    for (const o of doomed) {
      options.checkpoint?.();
      const age = o.lastModified === undefined ? undefined : now.getTime() - o.lastModified.getTime();
      if (age === undefined || age < options.graceMs) {
        result.young++;
        continue;
      }
      await this.store.delete(o.key);
      result.deleted++;
      result.deletedBytes += o.size;
      options.onEach?.(result.deleted, doomed.length);
    }
    return result;
  }

  async #resealChunks(onEach?: (done: number, total: number) => void): Promise<ChunkReseal> {
    const encrypter = this.#needEncrypter();
    await this.#beforeWrite();
    const prefix = this.#layout.chunksPrefix;
    const ids: string[] = [];
    for await (const o of this.store.list(prefix)) {
      const id = o.key.slice(prefix.length);
      if (!id.includes("/")) ids.push(id);
    }
    const result: ChunkReseal = { chunks: ids.length, resealed: 0, failed: [] };
    for (const [i, id] of ids.entries()) {
      const got = await this.store.get(this.#layout.chunk(id));
      if (got !== undefined && !sealingKeyMatches(encrypter, inspectEnvelope(got.body))) {
        const location = this.#layout.chunkLocation(id);
        try {
          const plaintext = await encrypter.open(got.body, location);
          await this.store.put(this.#layout.chunk(id), await encrypter.seal(plaintext, location), {
            ifMatch: got.etag,
          });
          result.resealed++;
        } catch (e) {
          if (!isUnreadable(e)) throw e;
          result.failed.push({ chunk: id, code: e.code, message: e.message });
        }
      }
      onEach?.(i + 1, ids.length);
    }
    return result;
  }

  async #reseal(rev: string): Promise<boolean> {
    validateRev(rev);
    const encrypter = this.#needEncrypter();
    if ((await this.#beforeWrite()) === "log") return this.#resealCommit(rev, encrypter);
    const key = this.#layout.snapshot(rev);
    const got = await this.store.get(key);
    if (got === undefined)
      throw new StateKeeperError("E_NOT_FOUND", `no revision ${rev} in ${this.#name}`, { details: { rev } });
    const location = this.#layout.sealLocation(rev);
    const plaintext = await encrypter.open(got.body, location);
    // Which key sealed it is in the header: key ids alone are not enough (passphrase encrypters
    // share one id, and differ by their KDF salt), and nothing is sealed just to find out.
    if (sealingKeyMatches(encrypter, inspectEnvelope(got.body))) return false;
    const sealed = await encrypter.seal(plaintext, location);
    const digest = { sha256: sha256Hex(sealed), size: sealed.byteLength };
    const seen = await this.#expectation();
    const isCurrent = pointerOf(seen.state)?.rev === rev;
    // The current rev's object and its digest in `current` cannot change in one step, so the
    // pointer first accepts both digests, then the object is replaced, then the old digest goes.
    // A crash between any two steps leaves a current that opens and verifies.
    if (isCurrent) await this.#advanceCurrent(rev, { ...digest, alsoSha256: sha256Hex(got.body) });
    await this.store.put(key, sealed, { ifMatch: got.etag });
    this.#digests.set(rev, digest);
    if (isCurrent) await this.#advanceCurrent(rev, digest);
    return true;
  }

  /**
   * Re-seals a log-headed stack's revision in its entry: the one entry ever replaced, header and
   * place kept (the digest in the header follows the payload, so a reader checks either whole).
   */
  async #resealCommit(rev: string, encrypter: Encrypter): Promise<boolean> {
    const seq = logSeq(rev);
    const sealed = seq === undefined ? undefined : await this.#getSealed(rev);
    if (seq === undefined || sealed === undefined)
      throw new StateKeeperError("E_NOT_FOUND", `no revision ${rev} in ${this.#name}`, { details: { rev } });
    const location = this.#layout.logLocation(rev);
    const plaintext = await encrypter.open(sealed.body, location);
    if (sealingKeyMatches(encrypter, inspectEnvelope(sealed.body))) return false;
    if (!(await this.#log.replacePayload(seq, await encrypter.seal(plaintext, location))))
      throw new StateKeeperError("E_NOT_FOUND", `no revision ${rev} in ${this.#name}`, { details: { rev } });
    return true;
  }
}

/**
 * `read()`, with a stored revision that does not validate, or is over the limit, turned into
 * `E_CORRUPT`: corrupt state to a reader, whatever the decoder calls it for an input.
 */
async function asCorrupt<T>(rev: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (e) {
    if (!hasErrorCode(e, "E_INVALID_SNAPSHOT", "E_TOO_LARGE")) throw e;
    throw new StateKeeperError("E_CORRUPT", `revision ${rev} cannot be read as a snapshot: ${e.message}`, {
      cause: e,
      details: { rev, found: e.code },
    });
  }
}
