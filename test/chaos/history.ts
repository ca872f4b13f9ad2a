// The history checker of the chaos suite: a pure function from what the clients were told
// (acknowledged and refused commits) and what the store holds (every revision, and current) to
// the invariants a state store must keep whatever was killed or paused:
//  1. every acknowledged entry is in the final state exactly once;
//  2. following the parent each revision's newest entry records, from current back to the first
//     commit, gives one line in which every revision is its parent plus exactly one new entry;
//  3. every acknowledged rev is on that line, holding its own entry as its newest, and no two
//     acknowledged commits extend the same parent (a fork);
//  4. a commit refused for certain (E_FENCED, E_LOCK_LOST) never became current;
//  4b. no stale writer wins: current never moves under a holder whose lock nobody took over
//     (the holders report it, see Intrusion);
//  5. every revision opens, and current opens and matches its digest (read by the caller).
// Revisions off the line (orphans: writes of killed, paused or fenced writers) are counted, and
// must themselves extend a revision, but are not failures.
import { createHash } from "node:crypto";
import type { Entry } from "../../src/snapshot/index.js";
import { type ChaosCommit, readChaosEntry } from "../fixtures/chaos/stack.js";

export interface AckedCommit {
  address: string;
  rev: string;
}

export interface RefusedCommit {
  address: string;
  code: string;
  /** The revision written before the refusal (E_FENCED names it), when known. */
  rev?: string;
}

/**
 * A holder saw current move under its lock (it was fenced, or current changed between two of its
 * reads) while the store still held its lock record, so nobody had taken the lock over.
 */
export interface Intrusion {
  worker: number;
  /** The holder's lock id (shortened). */
  lock: string;
  during: "read" | "commit";
  /** The commit that was fenced, for `commit`. */
  address?: string;
}

/** What the clients were told. */
export interface ClientHistory {
  acks: readonly AckedCommit[];
  refused: readonly RefusedCommit[];
  /** Reported by holders; each one is a violation (see Intrusion). */
  intrusions?: readonly Intrusion[];
  /** Locks taken over: `lock` (shortened id) was taken from the holder of `from`. */
  takeovers?: readonly { worker: number; lock: string; from: string }[];
}

/** A store read that failed: which object, and the error code and message. */
export interface ReadFailure {
  rev: string;
  code: string;
  message: string;
}

/** What the store holds. */
export interface StoredHistory {
  /** Every listed revision that opened, by rev (see summarizeRevision). */
  revisions: ReadonlyMap<string, RevisionSummary>;
  /** Listed revisions that did not open. */
  unreadable: readonly ReadFailure[];
  /**
   * `current` as read with its digest verified: undefined when it was never set; `entries`
   * missing when it did not open (`error` says why; `rev` is what the pointer named, if known).
   */
  current: { rev: string | undefined; entries?: readonly Entry[]; error?: ReadFailure } | undefined;
}

export type ViolationKind =
  | "unreadable-revision"
  | "unreadable-current"
  | "malformed-entry"
  | "broken-line"
  | "not-an-extension"
  | "current-differs"
  | "ack-unknown-rev"
  | "ack-mismatch"
  | "ack-off-line"
  | "fork"
  | "refused-landed"
  | "stale-writer-won"
  | "two-holders";

export interface Violation {
  kind: ViolationKind;
  detail: string;
  /** For not-an-extension: the revision and the parent it names, to compare them in the store. */
  rev?: string;
  parent?: string;
}

export interface HistoryReport {
  /** The committed history, oldest first. */
  line: string[];
  /** Revisions off the line (readable or not). */
  orphans: string[];
  acknowledged: number;
  /** Entries on the line no client was told about (killed before its ack, or a lost response). */
  unacknowledgedOnLine: number;
  /** Acknowledged addresses missing from the final state. */
  lost: string[];
  /** Addresses found more than once in the final state, or added by more than one revision on the line. */
  duplicated: string[];
  violations: Violation[];
}

/** JSON with object keys sorted, so two decodings of one entry compare equal as text. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object")
    return `{${Object.keys(value)
      .sort()
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  return JSON.stringify(value);
}

/**
 * A digest of a multiset of entries: the word-wise sum (mod 2^32) of their SHA-256 prefixes. It
 * ignores order, and "all entries minus one" is a subtraction, so a revision is summarised in one
 * pass and compared with its parent without keeping either's entries.
 */
type MultisetDigest = readonly [number, number, number, number];
const EMPTY_DIGEST: MultisetDigest = [0, 0, 0, 0];

function entryDigest(e: Entry): MultisetDigest {
  const h = createHash("sha256").update(canonical(e)).digest();
  return [h.readUInt32BE(0), h.readUInt32BE(4), h.readUInt32BE(8), h.readUInt32BE(12)];
}

const combine = (a: MultisetDigest, b: MultisetDigest, sign: 1 | -1): MultisetDigest =>
  a.map((w, i) => (w + sign * (b[i] as number)) >>> 0) as unknown as MultisetDigest;
const sameDigest = (a: MultisetDigest, b: MultisetDigest) => a.every((w, i) => w === b[i]);

/**
 * What the checker keeps of one revision. A long run stores thousands of revisions of thousands
 * of entries each, so revisions are summarised as they are read rather than held.
 */
export interface RevisionSummary {
  /** The entry with the highest seq: what this revision's commit added. */
  newest: ChaosCommit | undefined;
  entryCount: number;
  /** Digest of every entry: what a child's `rest` must equal. */
  all: MultisetDigest;
  /** Digest of every entry but the newest: must equal the parent's `all`. */
  rest: MultisetDigest;
  /** The newest entry's address is also held by another entry (one commit applied twice). */
  repeatsNewest: boolean;
  /** Addresses of entries that are not well-formed chaos entries. */
  malformed: string[];
}

export function summarizeRevision(entries: readonly Entry[]): RevisionSummary {
  let newest: { commit: ChaosCommit; digest: MultisetDigest } | undefined;
  let all = EMPTY_DIGEST;
  const malformed: string[] = [];
  const seen = new Set<string>();
  const repeated = new Set<string>();
  for (const e of entries) {
    const digest = entryDigest(e);
    all = combine(all, digest, 1);
    if (seen.has(e.address)) repeated.add(e.address);
    seen.add(e.address);
    const c = readChaosEntry(e);
    if (c === undefined) malformed.push(e.address);
    else if (newest === undefined || c.seq > newest.commit.seq) newest = { commit: c, digest };
  }
  const rest = newest === undefined ? all : combine(all, newest.digest, -1);
  const repeatsNewest = newest !== undefined && repeated.has(newest.commit.address);
  return { newest: newest?.commit, entryCount: entries.length, all, rest, repeatsNewest, malformed };
}

export function checkHistory(client: ClientHistory, stored: StoredHistory): HistoryReport {
  const violations: Violation[] = [];
  const duplicated = new Set<string>();
  for (const u of stored.unreadable)
    violations.push({ kind: "unreadable-revision", detail: `${u.rev}: ${u.code} ${u.message}` });

  const parsed = stored.revisions;
  for (const [rev, p] of parsed)
    for (const address of p.malformed)
      violations.push({ kind: "malformed-entry", detail: `${rev}: entry ${JSON.stringify(address)}` });
  const unreadable = new Set(stored.unreadable.map((u) => u.rev));

  // Invariant 2, for every readable revision: it is its parent plus exactly one new entry. Orphans
  // too: each was built on a revision its writer read through current().
  for (const [rev, p] of parsed) {
    if (p.newest === undefined) {
      violations.push({ kind: "not-an-extension", detail: `${rev}: holds no chaos entry`, rev });
      continue;
    }
    const { parent, address, seq } = p.newest;
    const base = parent === "" ? undefined : parsed.get(parent);
    if (parent !== "" && base === undefined) {
      // An unreadable parent is reported as such; a missing one breaks the history.
      if (!unreadable.has(parent))
        violations.push({
          kind: "broken-line",
          detail: `${rev} names parent ${parent}, which is not stored`,
        });
      continue;
    }
    if (p.repeatsNewest) {
      duplicated.add(address);
      continue;
    }
    const expectedSeq = (base?.newest?.seq ?? 0) + 1;
    const expectedCount = (base?.entryCount ?? 0) + 1;
    if (
      seq !== expectedSeq ||
      p.entryCount !== expectedCount ||
      !sameDigest(p.rest, base?.all ?? EMPTY_DIGEST)
    )
      violations.push({
        kind: "not-an-extension",
        detail: `${rev} (adds ${address} as seq ${seq}, ${p.entryCount} entries) is not ${parent === "" ? "the first commit" : `${parent} (${base?.entryCount} entries)`} plus one entry: ${seq !== expectedSeq ? `seq should be ${expectedSeq}` : "its other entries differ from the parent's"}`,
        rev,
        ...(parent === "" ? {} : { parent }),
      });
  }

  // The line: from current back through the recorded parents.
  const line: string[] = [];
  const current = stored.current;
  if (current?.error !== undefined)
    violations.push({
      kind: "unreadable-current",
      detail: `current (${current.rev ?? "pointer unreadable"}): ${current.error.code} ${current.error.message}`,
    });
  if (current?.rev !== undefined) {
    const onLine = new Set<string>();
    for (let rev = current.rev; rev !== ""; ) {
      if (onLine.has(rev)) {
        violations.push({ kind: "broken-line", detail: `the parents loop back to ${rev}` });
        break;
      }
      const p = parsed.get(rev);
      if (p?.newest === undefined) {
        // An unreadable revision or one without a chaos entry is already reported above.
        if (p === undefined && !unreadable.has(rev))
          violations.push({ kind: "broken-line", detail: `the line reaches ${rev}, which is not stored` });
        break;
      }
      onLine.add(rev);
      line.unshift(rev);
      rev = p.newest.parent;
    }
    const stated = current.entries === undefined ? undefined : summarizeRevision(current.entries);
    const stored = parsed.get(current.rev);
    if (stated !== undefined && stored !== undefined && !sameDigest(stated.all, stored.all))
      violations.push({
        kind: "current-differs",
        detail: `current() opened other entries than revision ${current.rev} holds`,
      });
  }
  const onLine = new Set(line);
  const lineAdds = new Map<string, string>();
  for (const rev of line) {
    const address = parsed.get(rev)?.newest?.address as string;
    if (lineAdds.has(address)) duplicated.add(address);
    lineAdds.set(address, rev);
  }

  // Invariants 1 and 3.
  const finalCount = new Map<string, number>();
  for (const e of current?.entries ?? []) finalCount.set(e.address, (finalCount.get(e.address) ?? 0) + 1);
  for (const [address, n] of finalCount) if (n > 1) duplicated.add(address);
  const lost: string[] = [];
  const ackedByParent = new Map<string, AckedCommit[]>();
  for (const ack of client.acks) {
    if ((finalCount.get(ack.address) ?? 0) === 0) lost.push(ack.address);
    const p = parsed.get(ack.rev);
    if (p === undefined) {
      if (!unreadable.has(ack.rev))
        violations.push({
          kind: "ack-unknown-rev",
          detail: `${ack.address} was acknowledged as ${ack.rev}, which is not stored`,
        });
      continue;
    }
    if (p.newest?.address !== ack.address)
      violations.push({
        kind: "ack-mismatch",
        detail: `${ack.address} was acknowledged as ${ack.rev}, whose newest entry is ${p.newest?.address}`,
      });
    if (!onLine.has(ack.rev))
      violations.push({ kind: "ack-off-line", detail: `${ack.address} (${ack.rev}) is not on the line` });
    if (p.newest !== undefined && p.newest.address === ack.address) {
      const siblings = ackedByParent.get(p.newest.parent) ?? [];
      siblings.push(ack);
      ackedByParent.set(p.newest.parent, siblings);
    }
  }
  for (const [parent, acks] of ackedByParent)
    if (acks.length > 1)
      violations.push({
        kind: "fork",
        detail: `acknowledged commits ${acks.map((a) => `${a.address} (${a.rev})`).join(", ")} all extend ${parent === "" ? "the empty stack" : parent}`,
      });

  // Invariant 4.
  for (const r of client.refused) {
    const landed = (finalCount.get(r.address) ?? 0) > 0 || (r.rev !== undefined && onLine.has(r.rev));
    if (landed)
      violations.push({
        kind: "refused-landed",
        detail: `${r.address} was refused with ${r.code}${r.rev === undefined ? "" : ` (rev ${r.rev})`}, yet it is in the committed history`,
      });
  }

  // Invariant 4b: with one writer at a time, only this holder may move current during its tenure.
  const takenOver = new Map((client.takeovers ?? []).map((t) => [t.from, t]));
  for (const i of client.intrusions ?? []) {
    const successor = takenOver.get(i.lock);
    // A lock record its holder still finds after someone reported taking it over was written back
    // by that holder: two processes held the lock at once.
    if (successor !== undefined) {
      violations.push({
        kind: "two-holders",
        detail: `w${successor.worker} took lock ${i.lock} over (as ${successor.lock}), yet w${i.worker} later found ${i.lock} still in the store and current moved under it (${i.during === "commit" ? `its commit ${i.address} was fenced` : "between two of its reads"})`,
      });
      continue;
    }
    violations.push({
      kind: "stale-writer-won",
      detail: `w${i.worker} held lock ${i.lock}, which nobody had taken over, yet current moved under it (${i.during === "commit" ? `its commit ${i.address} was fenced` : "between two of its reads"}): a writer without the lock advanced current`,
    });
  }

  const acked = new Set(client.acks.map((a) => a.address));
  const orphans = [...parsed.keys(), ...unreadable].filter((rev) => !onLine.has(rev)).sort();
  return {
    line,
    orphans,
    acknowledged: client.acks.length,
    unacknowledgedOnLine: [...lineAdds.keys()].filter((a) => !acked.has(a)).length,
    lost,
    duplicated: [...duplicated].sort(),
    violations,
  };
}
