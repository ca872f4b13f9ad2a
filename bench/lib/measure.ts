import { performance } from "node:perf_hooks";

/** One side of a comparison: who ran it and the figure it got. */
export interface Side {
  /** "statekeeper (noop)", "write-file-atomic + proper-lockfile", "floor", … */
  name: string;
  value: number;
}

/**
 * One line of the table: a metric measured for statekeeper and for each baseline in the same
 * run. `better` says which direction wins; ratios are always statekeeper cost / baseline cost.
 */
export interface Row {
  metric: string;
  unit: string;
  better: "higher" | "lower";
  statekeeper: Side;
  baselines: Side[];
  /** Context a reader needs next to the number (request counts, p99, bytes). */
  extra?: Record<string, number | string>;
}

export interface ScenarioResult {
  id: string;
  title: string;
  rows: Row[];
  notes?: string[];
}

export const QUICK = process.env.BENCH_QUICK === "1";

/** `full` in a full run, `quick` under BENCH_QUICK=1. */
export function pick<T>(full: T, quick: T): T {
  return QUICK ? quick : full;
}

export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = performance.now();
  const value = await fn();
  return { ms: performance.now() - start, value };
}

/** Runs `fn` n times in sequence; returns every duration in ms. */
export async function samples(n: number, fn: (i: number) => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    await fn(i);
    out.push(performance.now() - start);
  }
  return out;
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

export function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

export const round = (v: number, digits = 2): number => Number(v.toFixed(digits));

/** ms per operation over a whole run → operations per second. */
export const perSecond = (count: number, totalMs: number): number => (count * 1000) / totalMs;

/** Times a fixed-count loop as a rate: commits/s, saves/s. */
export async function rate(count: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < count; i++) await fn(i);
  return perSecond(count, performance.now() - start);
}

/**
 * Runs every side `rounds` times, the sides in turn and their order rotated each round, and returns
 * each side's runs. Sides measured one after the other meet different disk states (writeback and
 * discards left by the side before); interleaved, each meets the same mix, so their ratio holds.
 */
export async function interleaved<S extends Record<string, unknown>>(
  rounds: number,
  sides: { [K in keyof S]: () => Promise<S[K]> },
  label?: string,
): Promise<{ [K in keyof S]: S[K][] }> {
  const names = Object.keys(sides) as (keyof S & string)[];
  const out = Object.fromEntries(names.map((k) => [k, []])) as unknown as { [K in keyof S]: S[K][] };
  for (let r = 0; r < rounds; r++) {
    const order = [...names.slice(r % names.length), ...names.slice(0, r % names.length)];
    for (const k of order) {
      if (label !== undefined) log(`${label}: round ${r + 1}/${rounds}, ${k}`);
      out[k].push(await sides[k]());
    }
  }
  return out;
}

/** The median of `values` (the lower middle of an even count). */
export const median = (values: readonly number[]): number => percentile(values, 50);

/**
 * How many times the statekeeper figure is worse than a baseline: > 1 means statekeeper is
 * slower (or writes more), < 1 means faster. Always "statekeeper cost / baseline cost".
 */
export function ratio(row: Row, baseline: Side): number {
  const sk = row.statekeeper.value;
  return row.better === "higher" ? baseline.value / sk : sk / baseline.value;
}

export function log(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}
