import { StateKeeperError } from "../errors.js";

/**
 * RFC3339 timestamps with nanosecond precision, as Go's `time.RFC3339Nano` writes them.
 * Epoch nanoseconds are bigints: a double cannot hold today's time to the nanosecond.
 */

const NS_PER_SECOND = 1_000_000_000n;
const NS_PER_MS = 1_000_000n;

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

function isLeapYear(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

function daysInMonth(y: number, month: number): number {
  if (month === 2) return isLeapYear(y) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Epoch nanoseconds of calendar fields, or undefined when a field is out of range. */
export function civilToEpochNanos(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  fraction: string,
  offsetMinutes = 0,
): bigint | undefined {
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  // setUTCFullYear, unlike Date.UTC, does not map years 0-99 onto the 1900s.
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, 0);
  const ms = date.getTime() - offsetMinutes * 60_000;
  return BigInt(ms) * NS_PER_MS + BigInt(fraction.padEnd(9, "0"));
}

/** Parses any RFC3339 timestamp (offsets allowed, up to 9 fractional digits) into epoch nanoseconds. */
export function parseRfc3339(text: string): bigint | undefined {
  const m = RFC3339.exec(text);
  if (m === null) return undefined;
  const n = (i: number): number => Number(m[i]);
  let offsetMinutes = 0;
  if (m[8] !== undefined) {
    if (n(9) > 23 || n(10) > 59) return undefined;
    offsetMinutes = (m[8] === "-" ? -1 : 1) * (n(9) * 60 + n(10));
  }
  return civilToEpochNanos(n(1), n(2), n(3), n(4), n(5), n(6), m[7] ?? "", offsetMinutes);
}

/**
 * Formats epoch nanoseconds as UTC RFC3339Nano the way Go does: trailing fractional zeros
 * trimmed, no fraction at all on a whole second. Years outside 0000-9999 have no RFC3339 form.
 */
export function formatRfc3339Nano(epochNanos: bigint): string {
  if (typeof epochNanos !== "bigint")
    throw new StateKeeperError("E_INVALID_ARGUMENT", "a timestamp must be a bigint of epoch nanoseconds");
  let seconds = epochNanos / NS_PER_SECOND;
  let fraction = epochNanos % NS_PER_SECOND;
  if (fraction < 0n) {
    fraction += NS_PER_SECOND;
    seconds -= 1n;
  }
  const date = new Date(Number(seconds) * 1000);
  const year = date.getUTCFullYear();
  if (Number.isNaN(year) || year < 0 || year > 9999)
    throw new StateKeeperError("E_INVALID_ARGUMENT", "timestamp is outside the years 0000-9999", {
      details: { epochNanos: epochNanos.toString() },
    });
  let text = date.toISOString().slice(0, 19);
  if (fraction !== 0n) text += `.${fraction.toString().padStart(9, "0").replace(/0+$/, "")}`;
  return `${text}Z`;
}
