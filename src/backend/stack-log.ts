import { randomBytes } from "node:crypto";
import { FencedError, type LockHolder, LockLostError, StateKeeperError } from "../errors.js";
import { mapBounded } from "../internal/bounded.js";
import { type LeaseClock, systemClock } from "../lock/clock.js";
import {
  combineSignals,
  describeHolder,
  type HeldLease,
  HolderLease,
  holderOf,
  type LeaseOptions,
  type LeaseRecord,
  leaseRecordFrom,
  lockedError,
  thisProcess,
  validateLeaseOptions,
} from "../lock/lease.js";
import { isStoreError, type ObjectStore } from "../objectstore/types.js";
import { sha256Hex } from "./layout.js";

/**
 * A stack's log: one create-only object per event, `log/<segment>/<seq>`, numbered from 1 without
 * gaps by the writers themselves. Whoever creates entry `n+1` (`If-None-Match: *`) decided what follows
 * `n`; a writer that lost the race learns it from the store's refusal, never by overwriting. So the
 * log is the stack's head, its lock and its fence at once, and needs nothing but create-only
 * writes and a listing (SlateDB's manifests and Delta Lake's `_delta_log` work the same way):
 *
 * - every entry carries the whole head state after it — the lock (a holder record, as a lock
 *   object holds) and the newest commit at or before it — so the newest entry alone tells a reader
 *   everything;
 * - taking the lock is an entry; so are a renewal, a commit, a release and a break. A holder knows
 *   the head (it wrote it), so each of its writes is exactly one request, and any entry someone
 *   else slipped in — a takeover of its lapsed lease, a break — makes its next write fail: that
 *   is the fence, for free;
 * - a waiter takes over a lease only after seeing the head unchanged for the whole lease on its
 *   own monotonic clock; a holder's commits renew its lease as its renewals do.
 *
 * Entries are never replaced. A commit entry's payload is opaque here (the backend seals a
 * revision into it, bound to the entry's location); its digest is in the entry's header.
 */

/** Digits of a sequence number (and of a segment) in a key: `…/0000000000000042` sorts as 42 does. */
const LOG_SEQ_DIGITS = 16;
/** The largest sequence number: a safe integer, which 16 digits hold. */
const MAX_SEQ = Number.MAX_SAFE_INTEGER;
/** Largest entry header parsed (a holder record with 16 KiB of info fits many times over). */
const MAX_HEADER_BYTES = 64 * 1024;
/** The hint object is rewritten at the first entry and every this many after it. */
export const HINT_EVERY = 1000;
/**
 * Entries come in segments of this many (1–256, 257–512, …); each entry names the kind of every
 * entry before it in its segment, so the newest entry of a segment tells which of its entries are
 * commits: listing the revisions reads one entry per segment, not every entry.
 */
export const SEGMENT = 256;

export type LogEntryKind = "lock" | "renew" | "commit" | "unlock" | "break";
/** One letter per kind, for `LogEntry.kinds`. */
const LETTER: Readonly<Record<LogEntryKind, string>> = {
  lock: "l",
  renew: "r",
  commit: "c",
  unlock: "u",
  break: "b",
};
const KIND_OF: ReadonlyMap<string, LogEntryKind> = new Map(
  Object.entries(LETTER).map(([kind, letter]) => [letter, kind as LogEntryKind]),
);

/** One event of the log, with the head state after it. */
export interface LogEntry {
  kind: LogEntryKind;
  /** When it was written, by its writer's wall clock: for people only, never compared. */
  at: string;
  /** `user@host` of the process that wrote it. */
  by: string;
  /** Who holds the lock after this entry; null: unlocked. */
  lock: LeaseRecord | null;
  /** The sequence number of the entry that took `lock` (the fence epoch); 0 when unlocked. */
  epoch: number;
  /** The newest commit entry at or before this one; 0: none yet. */
  commit: number;
  /** The kinds of the entries of this entry's segment up to it, one letter each (`LETTER`), this one last. */
  kinds: string;
  /** A commit's payload: its digest and size (checked on every read). */
  payload?: { sha256: string; size: number };
  /**
   * A commit's count of state entries, when its writer knew it: lets a listing show counts
   * without opening the payload (a sealed revision), as a pointer's `entries` does.
   */
  entries?: number;
}

/** An entry without what `StackLog.append` derives: its place in its segment. */
export type NewLogEntry = Omit<LogEntry, "kinds" | "payload">;

/** The first sequence number of the segment `seq` is in. */
const segmentStart = (seq: number): number => seq - ((seq - 1) % SEGMENT);

export interface ReadEntry {
  seq: number;
  entry: LogEntry;
  /** A commit's payload bytes; empty for the other kinds. */
  payload: Uint8Array;
}

/** The state before the first entry. */
const EMPTY: LogEntry = { kind: "unlock", at: "", by: "", lock: null, epoch: 0, commit: 0, kinds: "" };

function corrupt(key: string, why: string, cause?: unknown): StateKeeperError {
  return new StateKeeperError("E_CORRUPT", `log entry ${key} ${why}`, { details: { key }, cause });
}

const SHA256_HEX = /^[0-9a-f]{64}$/;
const isSeq = (n: unknown, min: number): n is number => Number.isSafeInteger(n) && (n as number) >= min;

/** The bytes of an entry: its header as one line of JSON, then the payload (a commit's only). */
export function encodeLogEntry(entry: LogEntry, payload: Uint8Array = new Uint8Array()): Uint8Array {
  const { payload: _ignored, ...fields } = entry;
  const header: LogEntry =
    entry.kind === "commit"
      ? { ...fields, payload: { sha256: sha256Hex(payload), size: payload.byteLength } }
      : fields;
  const head = new TextEncoder().encode(`${JSON.stringify(header)}\n`);
  const out = new Uint8Array(head.byteLength + payload.byteLength);
  out.set(head, 0);
  out.set(payload, head.byteLength);
  return out;
}

/**
 * Parses entry `seq` strictly: anything that is not one we write there is `E_CORRUPT`, and so is a
 * payload that fails its digest.
 */
export function decodeLogEntry(
  key: string,
  seq: number,
  bytes: Uint8Array,
): { entry: LogEntry; payload: Uint8Array } {
  const newline = bytes.subarray(0, MAX_HEADER_BYTES + 1).indexOf(0x0a);
  if (newline < 0) throw corrupt(key, "has no header line");
  let o: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(
      new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(0, newline)),
    );
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
      throw new Error("not an object");
    o = parsed as Record<string, unknown>;
  } catch (cause) {
    throw corrupt(key, "has a header that is not a JSON object", cause);
  }
  const { kind, at, by, lock, epoch, commit, kinds, payload, entries } = o;
  if (typeof kind !== "string" || !Object.hasOwn(LETTER, kind)) throw corrupt(key, "has an unknown kind");
  if (!isSeq(epoch, 0) || !isSeq(commit, 0) || epoch > seq || commit > seq)
    throw corrupt(key, "lacks a valid epoch and commit");
  // What each kind says of the head after it: a lock entry is its own epoch, a commit its own
  // newest commit, a release leaves no lock, and a lock always has an epoch.
  const locked = lock !== null && lock !== undefined;
  if (
    (kind === "lock" && (epoch !== seq || !locked)) ||
    (kind === "renew" && !locked) ||
    ((kind === "unlock" || kind === "break") && (locked || epoch !== 0)) ||
    (locked && epoch < 1) ||
    (kind === "commit") !== (commit === seq)
  )
    throw corrupt(key, `is a ${kind} entry whose lock, epoch or commit contradicts it`);
  if (
    typeof kinds !== "string" ||
    kinds.length !== seq - segmentStart(seq) + 1 ||
    kinds.at(-1) !== LETTER[kind as LogEntryKind] ||
    [...kinds].some((letter) => !KIND_OF.has(letter))
  )
    throw corrupt(key, "does not name the kinds of its segment's entries");
  const entry: LogEntry = {
    kind: kind as LogEntryKind,
    at: typeof at === "string" ? at : "",
    by: typeof by === "string" ? by : "",
    lock: lock === null || lock === undefined ? null : leaseRecordFrom(key, lock),
    epoch,
    commit,
    kinds,
  };
  const body = bytes.subarray(newline + 1);
  if (kind === "commit") {
    const p = payload as Record<string, unknown> | undefined;
    if (
      typeof p !== "object" ||
      p === null ||
      typeof p.sha256 !== "string" ||
      !SHA256_HEX.test(p.sha256) ||
      !isSeq(p.size, 0)
    )
      throw corrupt(key, "is a commit without a valid payload digest");
    if (body.byteLength !== p.size || sha256Hex(body) !== p.sha256)
      throw corrupt(
        key,
        `has a payload that does not match its digest (${body.byteLength} bytes, ${p.size} recorded)`,
      );
    entry.payload = { sha256: p.sha256, size: p.size };
    if (entries !== undefined) {
      if (!isSeq(entries, 0)) throw corrupt(key, "has an entry count that is not a count");
      entry.entries = entries;
    }
  } else if (body.byteLength !== 0) throw corrupt(key, `is a ${kind} entry with a payload`);
  else if (entries !== undefined) throw corrupt(key, `is a ${kind} entry with an entry count`);
  return { entry, payload: body };
}

const who = (): string => {
  const p = thisProcess();
  return `${p.user}@${p.host}`;
};

export interface StackLogOptions {
  /** How messages name the stack: `stack webshop/prod`. */
  subject: string;
  clock?: LeaseClock;
}

/** A lock held in a stack log. */
export interface LogLease extends HeldLease {
  /** The sequence number of the entry that took this lock: its fence epoch. */
  readonly epoch: number;
  /** The newest entry this holder knows of (its own last write). */
  readonly head: number;
  /** The newest commit entry this holder knows of; 0: none. */
  readonly lastCommit: number;
  /**
   * Appends a commit entry at `head + 1` whose payload `payload(seq)` builds (it may seal for that
   * location): one create-only request. Another entry there means this lock was taken over or
   * broken: the lease is lost and the commit refused (`FencedError`), nothing written. `entries`:
   * the state's entry count, when the writer knows it (recorded in the entry, see `LogEntry.entries`).
   */
  commit(payload: (seq: number) => Uint8Array | Promise<Uint8Array>, entries?: number): Promise<number>;
}

export class StackLog {
  readonly store: ObjectStore;
  /** The folder of entries, ending in `/`. */
  readonly prefix: string;
  /** The best-effort hint of where the head is (`HINT_EVERY`). */
  readonly hintKey: string;
  readonly subject: string;
  readonly clock: LeaseClock;
  /** The newest entry this object has seen: later listings start there. */
  #seen = 0;
  /**
   * The newest entry this object wrote or read when it was not a commit (a lock, renewal, release
   * or break carries no payload, and no entry's header ever changes): a head found still there is
   * not read again, so a holder that released takes the lock again with one listing and one write.
   */
  #known: { seq: number; entry: LogEntry } | undefined;

  constructor(store: ObjectStore, prefix: string, hintKey: string, options: StackLogOptions) {
    if (!prefix.endsWith("/")) throw new StateKeeperError("E_INTERNAL", `log prefix ${prefix} must end in /`);
    this.store = store;
    this.prefix = prefix;
    this.hintKey = hintKey;
    this.subject = options.subject;
    this.clock = options.clock ?? systemClock;
  }

  /**
   * `log/<segment>/<seq>`: the entries of a segment share a folder, so a listing that starts
   * after an entry never reads the folders of earlier segments (the file store skips them
   * whole) and a local log stays fast however long it grows.
   */
  key(seq: number): string {
    if (!isSeq(seq, 1) || seq > MAX_SEQ)
      throw new StateKeeperError("E_INTERNAL", `log sequence ${seq} is out of range`);
    const segment = Math.floor((seq - 1) / SEGMENT);
    return `${this.prefix}${String(segment).padStart(LOG_SEQ_DIGITS, "0")}/${String(seq).padStart(LOG_SEQ_DIGITS, "0")}`;
  }

  /** The sequence number a listed key names, or undefined for anything else in the folder. */
  seqOf(key: string): number | undefined {
    if (!key.startsWith(this.prefix)) return undefined;
    const name = key.slice(this.prefix.length).split("/")[1] ?? "";
    if (!/^\d+$/.test(name)) return undefined;
    const seq = Number(name);
    // Only the exact key `key(seq)` is an entry: padding and segment folder included.
    return seq >= 1 && seq <= MAX_SEQ && this.key(seq) === key ? seq : undefined;
  }

  async read(seq: number): Promise<ReadEntry | undefined> {
    const key = this.key(seq);
    const got = await this.store.get(key);
    if (got === undefined) return undefined;
    return { seq, ...decodeLogEntry(key, seq, got.body) };
  }

  /** The hint's sequence number; 0 when there is none or it is unreadable (it is only a hint). */
  async #hint(): Promise<number> {
    const got = await this.store.get(this.hintKey);
    const n = got === undefined ? 0 : Number(new TextDecoder().decode(got.body).trim());
    return isSeq(n, 1) ? n : 0;
  }

  /**
   * The newest sequence number: one listing from the newest entry this object saw (or from the
   * hint, on first use). Entries are never removed, so nothing before the start can be newer.
   */
  async headSeq(): Promise<number> {
    const start = this.#seen > 0 ? this.#seen : await this.#hint();
    let newest = start;
    const options = start > 0 ? { startAfter: this.key(start) } : {};
    for await (const o of this.store.list(this.prefix, options)) {
      const seq = this.seqOf(o.key);
      if (seq !== undefined && seq > newest) newest = seq;
    }
    // A log without a hint (the writer of entry 1 died before writing it): the first cold reader
    // writes one, so a listing of stacks finds the log by it and later readers start near the head.
    if (start === 0 && newest > 0)
      await this.store.put(this.hintKey, new TextEncoder().encode(`${newest}\n`)).catch(() => undefined);
    if (newest > this.#seen) this.#seen = newest;
    return newest;
  }

  /**
   * The newest entry (seq 0 and an unlocked, empty state when the log has none). A listing that
   * named an entry a moment ago never loses it: entries are created once and never removed.
   */
  async head(): Promise<ReadEntry> {
    const seq = await this.headSeq();
    if (seq === 0) return { seq: 0, entry: EMPTY, payload: new Uint8Array() };
    const found = await this.read(seq);
    if (found === undefined) throw corrupt(this.key(seq), "was listed but cannot be read");
    this.#remember(found);
    return found;
  }

  /** `head()` without its payload: not read again when it is the entry this object knows. */
  async headEntry(): Promise<{ seq: number; entry: LogEntry }> {
    const seq = await this.headSeq();
    const known = this.#known;
    if (known !== undefined && known.seq === seq) return known;
    return this.head();
  }

  #remember(e: { seq: number; entry: LogEntry }): void {
    if (e.entry.kind !== "commit" && e.seq >= (this.#known?.seq ?? 0))
      this.#known = { seq: e.seq, entry: e.entry };
  }

  /**
   * Creates the entry after `after` with `If-None-Match: *` and returns it; undefined when that
   * entry exists (someone else wrote it, or our own create whose lost response the store could not
   * settle: callers read it to tell).
   *
   * `deferred`: a write a power failure may undo (`PutOptions.durability`) until the next entry is
   * written; only when that entry shares the folder (the segment), whose fsync then covers both.
   * So a name in the log is durable whenever any later one is: the log never has a gap.
   */
  async append(
    after: { seq: number; entry: LogEntry },
    next: NewLogEntry,
    payload?: Uint8Array,
    deferred = false,
  ): Promise<{ seq: number; entry: LogEntry } | undefined> {
    const seq = after.seq + 1;
    const letter = LETTER[next.kind];
    const entry: LogEntry = {
      ...next,
      kinds: segmentStart(seq) === seq ? letter : `${after.entry.kinds}${letter}`,
    };
    try {
      const durability = deferred && segmentStart(seq + 1) === segmentStart(seq) ? "deferred" : undefined;
      await this.store.put(this.key(seq), encodeLogEntry(entry, payload), {
        ifNoneMatch: "*",
        ...(durability === undefined ? {} : { durability }),
      });
    } catch (e) {
      if (isStoreError(e, "PRECONDITION_FAILED")) return undefined;
      throw e;
    }
    if (seq > this.#seen) this.#seen = seq;
    this.#remember({ seq, entry });
    if (seq === 1 || seq % HINT_EVERY === 0) {
      // Only ever a sequence number that exists, so a hint never points past the head; losing
      // one only makes the next cold reader list a little more.
      await this.store.put(this.hintKey, new TextEncoder().encode(`${seq}\n`)).catch(() => undefined);
    }
    return { seq, entry };
  }

  /**
   * The commit entries still in the log, oldest first, with their listed size and time: one
   * listing, and one read per segment of `SEGMENT` entries (its newest entry names the kinds of
   * the others), at most `concurrency` at once.
   */
  async commits(concurrency = 8): Promise<{ seq: number; size: number; lastModified: Date | undefined }[]> {
    const listed = new Map<number, { size: number; lastModified: Date | undefined }>();
    const newestOfSegment = new Map<number, number>();
    for await (const o of this.store.list(this.prefix)) {
      const seq = this.seqOf(o.key);
      if (seq === undefined) continue;
      listed.set(seq, { size: o.size, lastModified: o.lastModified });
      const start = segmentStart(seq);
      if (seq > (newestOfSegment.get(start) ?? 0)) newestOfSegment.set(start, seq);
    }
    const newest = [...newestOfSegment.entries()];
    const kinds = await mapBounded(newest, concurrency, async ([start, seq]) => {
      const found = await this.read(seq);
      if (found === undefined) throw corrupt(this.key(seq), "was listed but cannot be read");
      return { start, kinds: found.entry.kinds };
    });
    const out: { seq: number; size: number; lastModified: Date | undefined }[] = [];
    for (const { start, kinds: letters } of kinds)
      for (let i = 0; i < letters.length; i++) {
        const info = listed.get(start + i);
        if (letters[i] === LETTER.commit && info !== undefined) out.push({ seq: start + i, ...info });
      }
    return out.sort((a, b) => a.seq - b.seq);
  }

  /**
   * A commit by a writer without the lock, after `after`, the head it read: one create-only
   * request. Refused with `LockedError` while `after` names a lock (only its holder commits; a
   * lapsed one is taken over by locking), and with `FencedError` when someone else wrote the next
   * entry first (the writer reads again and decides again); nothing is written either way.
   */
  async commitAfter(
    after: { seq: number; entry: LogEntry },
    payload: (seq: number) => Uint8Array | Promise<Uint8Array>,
    entries?: number,
  ): Promise<{ seq: number; entry: LogEntry }> {
    if (after.entry.lock !== null)
      throw lockedError(this.subject, holderOf(after.entry.lock), {
        hint: "commit under the lock, or wait for it",
      });
    const seq = after.seq + 1;
    const bytes = await payload(seq);
    const appended = await this.append(
      after,
      {
        kind: "commit",
        at: this.clock.now().toISOString(),
        by: who(),
        lock: null,
        epoch: 0,
        commit: seq,
        ...(entries === undefined ? {} : { entries }),
      },
      bytes,
    );
    if (appended !== undefined) return appended;
    const found = await this.read(seq).catch(() => undefined);
    // Our own create, whose lost response the store could not settle: the same payload here.
    if (
      found?.entry.kind === "commit" &&
      found.entry.lock === null &&
      found.entry.payload?.sha256 === sha256Hex(bytes)
    )
      return { seq, entry: found.entry };
    throw new FencedError(
      `refusing to commit to ${this.subject}: entry ${seq} was written by ${found?.entry.by || "someone else"} ` +
        `(${found?.entry.kind ?? "unknown"}) after this writer read the log; read it again`,
      { details: { seq } },
    );
  }

  /**
   * Removes entry `seq` (a prune of an old revision). The newest entry never is: a listing would
   * then find an older head and a writer append in the middle of history. Entries below stay
   * where they are; their segment's newest entry still names their kinds. `knownHead`: a head the
   * caller listed just before (the log only grows at its head, so nothing older can be the newest).
   */
  async remove(seq: number, knownHead?: number): Promise<void> {
    const key = this.key(seq);
    const head = knownHead ?? (await this.headSeq());
    if (seq >= head)
      throw new StateKeeperError(
        "E_INVALID_ARGUMENT",
        `refusing to remove entry ${seq} of ${this.subject}: it is the newest (${head}), which finds the head`,
        { details: { seq } },
      );
    await this.store.delete(key);
  }

  /**
   * Replaces the payload of commit entry `seq` (rekey re-sealing a revision under the lock), its
   * header kept but for the payload's digest: the one write that replaces an entry, conditional on
   * the entry being unchanged where the store honours `If-Match`. False when there is no such
   * commit entry.
   */
  async replacePayload(seq: number, payload: Uint8Array): Promise<boolean> {
    const key = this.key(seq);
    const got = await this.store.get(key);
    if (got === undefined) return false;
    const { entry } = decodeLogEntry(key, seq, got.body);
    if (entry.kind !== "commit") return false;
    await this.store.put(key, encodeLogEntry(entry, payload), { ifMatch: got.etag });
    return true;
  }

  /** Who holds the lock, as the newest entry says (undefined: unlocked). */
  async lockRecord(): Promise<LeaseRecord | undefined> {
    return (await this.headEntry()).entry.lock ?? undefined;
  }

  /**
   * Takes the lock: appends a `lock` entry after a head that is unlocked, or whose lease this
   * waiter has seen unchanged for its whole length (a takeover). Finding the lock held under
   * `opts.id` is success (the same request, retried).
   */
  async acquire(opts: Omit<LeaseOptions, "subject">): Promise<LogLease> {
    const { leaseMs, pollMs, operation } = validateLeaseOptions(opts);
    const signal = combineSignals(opts.signal, opts.timeoutMs);
    const record: LeaseRecord = {
      id: opts.id ?? randomBytes(16).toString("hex"),
      ...(opts.holder ?? thisProcess()),
      operation,
      since: this.clock.now().toISOString(),
      ...(leaseMs === undefined ? {} : { leaseMs }),
      renewals: 0,
      ...(opts.info === undefined ? {} : { info: opts.info }),
    };
    let observed: { seq: number; since: number } | undefined;
    let lastHolder: LockHolder | undefined;
    let waitingReported = false;
    for (;;) {
      const sentAt = this.clock.monotonic();
      const head = await this.headEntry();
      const held = head.entry.lock;
      if (held !== null && held.id === record.id)
        return new HeldLogLease(this, held, head, sentAt, undefined);
      let takeOver = false;
      if (held !== null) {
        lastHolder = holderOf(held);
        if (opts.wait !== true) throw lockedError(this.subject, lastHolder, { hint: opts.hint });
        const now = this.clock.monotonic();
        if (observed === undefined || observed.seq !== head.seq) observed = { seq: head.seq, since: now };
        else if (held.leaseMs !== undefined && now - observed.since >= held.leaseMs) takeOver = true;
      }
      if (held === null || takeOver) {
        const takeoverSentAt = this.clock.monotonic();
        // A leased lock is deferred: its holder's commits, renewals or unlock make it durable, and
        // a power failure before them undoes it but also ends the process that holds the lease. On
        // a local folder this saves one of the three folder fsyncs of a lock → commit → unlock
        // cycle. A lock without a lease (`statekeeper lock`, a Terraform client's through `serve`)
        // outlives the process that wrote it: it is written durably.
        const taken = await this.append(
          head,
          {
            kind: "lock",
            at: this.clock.now().toISOString(),
            by: who(),
            lock: record,
            epoch: head.seq + 1,
            commit: head.entry.commit,
          },
          undefined,
          leaseMs !== undefined,
        );
        if (taken !== undefined)
          return new HeldLogLease(this, record, taken, takeoverSentAt, takeOver ? lastHolder : undefined);
        // Someone appended first: the next round reads what.
        continue;
      }
      if (!waitingReported && lastHolder !== undefined) {
        waitingReported = true;
        opts.onWait?.(lastHolder);
      }
      if (signal?.aborted)
        throw lockedError(this.subject, lastHolder, { reason: signal.reason, hint: opts.hint });
      await this.clock.sleep(pollMs * (0.5 + Math.random()), signal);
      if (signal?.aborted)
        throw lockedError(this.subject, lastHolder, { reason: signal.reason, hint: opts.hint });
    }
  }

  /**
   * A handle to the lock without a lease held under `id`, taken earlier, maybe by another process
   * (a Terraform client's lock across requests to `statekeeper serve`).
   */
  async resume(id: string): Promise<LogLease> {
    const sentAt = this.clock.monotonic();
    const head = await this.headEntry();
    const held = head.entry.lock;
    if (held === null)
      throw new LockLostError(
        `${this.subject} is not locked by ${id}: the lock was released, force-unlocked or expired`,
      );
    if (held.id !== id) throw lockedError(this.subject, holderOf(held), { hint: `not the lock ${id}` });
    if (held.leaseMs !== undefined)
      throw new StateKeeperError(
        "E_INVALID_ARGUMENT",
        `${this.subject}: lock ${id} has a lease that its holder renews; only a lock without a lease can be resumed`,
      );
    return new HeldLogLease(this, held, head, sentAt, undefined);
  }

  /**
   * Breaks whatever lock the head names with a `break` entry; returns its holder (undefined when
   * unlocked). With `id`, only while it is the lock with that id (else `LockedError`).
   */
  async forceUnlock(options: { id?: string } = {}): Promise<LockHolder | undefined> {
    for (;;) {
      const head = await this.headEntry();
      const held = head.entry.lock;
      if (held === null) return undefined;
      if (options.id !== undefined && held.id !== options.id)
        throw lockedError(this.subject, holderOf(held), { hint: `not the lock ${options.id}` });
      const broken = await this.append(head, {
        kind: "break",
        at: this.clock.now().toISOString(),
        by: who(),
        lock: null,
        epoch: 0,
        commit: head.entry.commit,
      });
      if (broken !== undefined) return holderOf(held);
    }
  }
}

class HeldLogLease extends HolderLease implements LogLease {
  readonly id: string;
  readonly holder: LockHolder;
  readonly tookOverFrom: LockHolder | undefined;
  readonly epoch: number;
  readonly #log: StackLog;
  #record: LeaseRecord;
  /** The newest entry, which this holder wrote (or found naming its lock). */
  #head: { seq: number; entry: LogEntry };
  /** Writes of this holder, one at a time: each appends after the one before. */
  #queue: Promise<unknown> = Promise.resolve();
  /** A renewal is queued and not yet run: a slow store never piles them up. */
  #renewQueued = false;

  constructor(
    log: StackLog,
    record: LeaseRecord,
    head: { seq: number; entry: LogEntry },
    sentAt: number,
    tookOverFrom: LockHolder | undefined,
  ) {
    super(log.clock, record.leaseMs, sentAt);
    this.#log = log;
    this.#record = record;
    this.#head = head;
    this.epoch = head.entry.epoch;
    this.id = record.id;
    this.holder = holderOf(record);
    this.tookOverFrom = tookOverFrom;
    this.renewWith(() => {
      // A commit renews as a renewal does: only a holder idle for a third of its lease writes one.
      if (this.#renewQueued || this.sinceConfirmed() < this.renewEvery) return;
      this.#renewQueued = true;
      this.#enqueue(() => {
        this.#renewQueued = false;
        return this.#renew();
      }).catch(() => undefined);
    });
  }

  get head(): number {
    return this.#head.seq;
  }

  get lastCommit(): number {
    return this.#head.entry.commit;
  }

  #enqueue<T>(write: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(write, write);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Appends `entry` right after this holder's head. False when another entry is there; then the
   * lease is lost unless that entry is this very lock's (another handle of a lock resumed twice).
   */
  async #appendNext(entry: Omit<NewLogEntry, "at" | "by" | "epoch">, payload?: Uint8Array): Promise<boolean> {
    const seq = this.#head.seq + 1;
    const sentAt = this.now();
    const appended = await this.#log.append(
      this.#head,
      {
        ...entry,
        at: this.#log.clock.now().toISOString(),
        by: who(),
        epoch: entry.lock === null ? 0 : this.epoch,
      },
      payload,
    );
    if (appended !== undefined) {
      this.#head = appended;
      if (entry.lock !== null) this.confirm(sentAt);
      return true;
    }
    let found: ReadEntry | undefined;
    try {
      found = await this.#log.read(seq);
    } catch {
      found = undefined;
    }
    // Only a holder of this lock writes `unlock` right after its entries (a takeover writes `lock`,
    // a break `break`): the release, ours or another handle's, happened.
    if (entry.kind === "unlock" && found?.entry.kind === "unlock") {
      this.#head = { seq, entry: found.entry };
      return true;
    }
    if (found?.entry.lock?.id === this.id && found.entry.epoch === this.epoch) {
      // Our own write, whose lost response the store could not settle (only this lock writes
      // this kind with this renewal count and this payload here): it landed.
      const same =
        found.entry.kind === entry.kind &&
        found.entry.lock.renewals === entry.lock?.renewals &&
        (entry.kind !== "commit" || found.entry.payload?.sha256 === sha256Hex(payload ?? new Uint8Array()));
      if (same) {
        this.#head = { seq, entry: found.entry };
        this.confirm(sentAt);
        return true;
      }
      return false;
    }
    this.lose(
      found === undefined
        ? `entry ${seq} of ${this.#log.subject} was written by someone else`
        : found.entry.lock === null
          ? `the lock was ${found.entry.kind === "break" ? "force-unlocked" : "released"} by ${found.entry.by} (entry ${seq})`
          : `the lock was taken over by ${describeHolder(holderOf(found.entry.lock))} (entry ${seq})`,
    );
    return false;
  }

  async #renew(): Promise<void> {
    if (this.lost || this.released) return;
    if (this.lapsed()) return this.lose("the lease lapsed before it could be renewed");
    const next: LeaseRecord = { ...this.#record, renewals: this.#record.renewals + 1 };
    try {
      if (await this.#appendNext({ kind: "renew", lock: next, commit: this.lastCommit })) this.#record = next;
    } catch {
      // Transient: the next tick tries again, and the lease check ends it if it lasts too long.
    }
  }

  commit(payload: (seq: number) => Uint8Array | Promise<Uint8Array>, entries?: number): Promise<number> {
    return this.#enqueue(async () => {
      this.assertHeld();
      const seq = this.#head.seq + 1;
      const bytes = await payload(seq);
      this.assertHeld();
      const entry = {
        kind: "commit",
        lock: this.#record,
        commit: seq,
        ...(entries === undefined ? {} : { entries }),
      } as const;
      if (await this.#appendNext(entry, bytes)) return seq;
      const why = this.lost
        ? String((this.signal.reason as Error).message)
        : "another handle of this lock wrote first";
      throw new FencedError(`refusing to commit to ${this.#log.subject}: ${why}`, { details: { seq } });
    });
  }

  async release(): Promise<boolean> {
    if (!this.markReleased()) return false;
    return this.#enqueue(async () => {
      if (this.lost) return false;
      return this.#appendNext({ kind: "unlock", lock: null, commit: this.lastCommit });
    });
  }
}
