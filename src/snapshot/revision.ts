import { StateKeeperError } from "../errors.js";
import { civilToEpochNanos, formatRfc3339Nano } from "./time.js";

/**
 * Revisions name snapshots: the UTC clock in RFC3339Nano (`2026-05-12T15:30:00.123456789Z`),
 * plus `_N` (N ≥ 1) when that instant was already taken. Store listings are lexical, which is
 * not chronological (`.` < `Z` < `_`, and `_10` < `_2`), hence `sortRevisions`.
 */

/** The backend tries `base`, `base_1`, … and gives up after this many creates. */
export const MAX_REVISION_ATTEMPTS = 100;

/** A source of "now" in epoch nanoseconds. Tests inject a frozen one. */
export type NanoClock = () => bigint;

export interface ParsedRevision {
  epochNanos: bigint;
  /** 0 when the revision has no `_N` suffix. */
  suffix: number;
}

const REVISION = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z(?:_([1-9]\d{0,14}))?$/;

const NS_PER_MS = 1_000_000n;
/** Re-anchor on the wall clock when the monotonic estimate has drifted further than this. */
const MAX_DRIFT_NS = 1_000_000_000n;

let anchorWallNanos: bigint | undefined;
let anchorHrtime = 0n;
let lastIssued = -1n;

/**
 * `Date.now()` only has milliseconds. Anchoring it once to `process.hrtime.bigint()` and
 * adding the monotonic delta gives real sub-millisecond digits; a wall-clock jump (NTP, suspend)
 * beyond a second re-anchors so revisions stay close to real time.
 */
function systemClockNanos(): bigint {
  const hr = process.hrtime.bigint();
  const wall = BigInt(Date.now()) * NS_PER_MS;
  if (anchorWallNanos === undefined) {
    anchorWallNanos = wall;
    anchorHrtime = hr;
    return wall;
  }
  const derived = anchorWallNanos + (hr - anchorHrtime);
  const drift = derived - wall;
  if (drift > MAX_DRIFT_NS || drift < -MAX_DRIFT_NS) {
    anchorWallNanos = wall;
    anchorHrtime = hr;
    return wall;
  }
  return derived;
}

/**
 * A fresh revision for "now". With the system clock, successive calls in one process are
 * strictly increasing (a repeated or backwards instant is bumped by 1 ns). An injected clock is
 * used as is, so a frozen clock yields the same revision every time (the backend then adds
 * suffixes).
 */
export function newRevision(clock?: NanoClock): string {
  if (clock !== undefined) return formatRfc3339Nano(clock());
  let now = systemClockNanos();
  if (now <= lastIssued) now = lastIssued + 1n;
  lastIssued = now;
  return formatRfc3339Nano(now);
}

/** `base_N`, the Nth alternative to a revision whose instant was already taken. */
export function revisionWithSuffix(base: string, n: number): string {
  if (!Number.isSafeInteger(n) || n < 1)
    throw new StateKeeperError("E_INVALID_ARGUMENT", `revision suffix must be an integer >= 1, got ${n}`);
  const parsed = parseRevision(base);
  if (parsed === undefined || parsed.suffix !== 0)
    throw new StateKeeperError("E_INVALID_ARGUMENT", "revision base must be a revision without a suffix", {
      details: { base: base.slice(0, 120) },
    });
  return `${base}_${n}`;
}

/** The instant and suffix of a revision, or undefined when `rev` is not one. */
export function parseRevision(rev: string): ParsedRevision | undefined {
  if (typeof rev !== "string") return undefined;
  const m = REVISION.exec(rev);
  if (m === null) return undefined;
  const n = (i: number): number => Number(m[i]);
  const epochNanos = civilToEpochNanos(n(1), n(2), n(3), n(4), n(5), n(6), m[7] ?? "");
  if (epochNanos === undefined) return undefined;
  return { epochNanos, suffix: m[8] === undefined ? 0 : n(8) };
}

export function isValidRevision(rev: string): boolean {
  return parseRevision(rev) !== undefined;
}

/** Orders strings by code point, which is the byte order of their UTF-8 encodings. */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // A surrogate stands for a code point above U+FFFF, so it must sort after U+E000-U+FFFF.
    if (x >= 0xd800) x = x <= 0xdfff ? x + 0x2000 : x - 0x800;
    if (y >= 0xd800) y = y <= 0xdfff ? y + 0x2000 : y - 0x800;
    return x - y;
  }
  return a.length - b.length;
}

function compareParsed(
  a: string,
  pa: ParsedRevision | undefined,
  b: string,
  pb: ParsedRevision | undefined,
): number {
  if (pa !== undefined && pb !== undefined) {
    if (pa.epochNanos !== pb.epochNanos) return pa.epochNanos < pb.epochNanos ? -1 : 1;
    if (pa.suffix !== pb.suffix) return pa.suffix - pb.suffix;
  } else if (pa !== undefined) return -1;
  else if (pb !== undefined) return 1;
  // A log-headed stack's revisions are sequence numbers: 9 before 10.
  if (DECIMAL.test(a) && DECIMAL.test(b) && a.length !== b.length) return a.length - b.length;
  return compareCodePoints(a, b);
}

/** A revision of a log-headed stack: its entry's sequence number, in decimal without leading zeros. */
const DECIMAL = /^[1-9][0-9]*$/;

/**
 * Chronological order: valid revisions by instant, then suffix number, then raw text; other
 * names after every valid one, in byte order, except that sequence numbers (a log-headed stack's
 * revisions) compare as numbers. Negative when `a` comes first.
 */
export function compareRevisions(a: string, b: string): number {
  return compareParsed(a, parseRevision(a), b, parseRevision(b));
}

/** A new array in `compareRevisions` order; the input is never modified. */
export function sortRevisions(revs: readonly string[]): string[] {
  const decorated = revs.map((rev) => ({ rev, parsed: parseRevision(rev) }));
  decorated.sort((x, y) => compareParsed(x.rev, x.parsed, y.rev, y.parsed));
  return decorated.map((d) => d.rev);
}

/** When a rev was allocated (its timestamp, to the millisecond, ISO 8601), or null for a rev that is not a timestamp. */
export function revisionTime(rev: string): string | null {
  const parsed = parseRevision(rev);
  if (parsed === undefined) return null;
  return new Date(Number(parsed.epochNanos / 1_000_000n)).toISOString();
}
