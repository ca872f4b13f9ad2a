/** Human and JSON output: aligned tables, colour only on a terminal, sizes and values. */
import { StateKeeperError } from "../errors.js";
import { escapeControlCharacters } from "../internal/text.js";

export function colourEnabled(): boolean {
  const noColor = process.env.NO_COLOR;
  return process.stdout.isTTY === true && (noColor === undefined || noColor === "");
}

type Style = "bold" | "dim" | "red" | "green" | "yellow" | "cyan";
const SGR: Record<Style, [number, number]> = {
  bold: [1, 22],
  dim: [2, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  cyan: [36, 39],
};

export function paint(style: Style, text: string): string {
  if (!colourEnabled() || text === "") return text;
  const [on, off] = SGR[style];
  return `\u001b[${on}m${text}\u001b[${off}m`;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching ANSI escapes is the point
const ANSI = /\u001b\[[0-9;]*m/g;
const visibleLength = (s: string): number => s.replace(ANSI, "").length;

export function out(text = ""): void {
  process.stdout.write(`${text}\n`);
}

export function warn(text: string): void {
  process.stderr.write(`statekeeper: ${text}\n`);
}

/** Stable, pretty JSON for `--json`. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Columns padded to the widest cell; the last column is not padded. */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => visibleLength(r[i] ?? ""))));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + " ".repeat((widths[i] ?? 0) - visibleLength(c))))
      .join("  ")
      .trimEnd();
  return [paint("bold", line(headers)), ...rows.map(line)].join("\n");
}

export function printTable(headers: readonly string[], rows: readonly (readonly string[])[]): void {
  out(formatTable(headers, rows));
}

/** A JSON value on one line, as diff and show print it. */
export function formatValue(value: unknown): string {
  return value === undefined ? "(none)" : JSON.stringify(value);
}

/** Cells from the terminal are not trusted to be printable: a name with ESC in it must not drive the terminal. */
export function printable(s: string): string {
  return escapeControlCharacters(s);
}

/** Parses "30s", "2m", "1500ms", "1h" or a plain number of seconds into milliseconds. */
export function parseDuration(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (m === null)
    throw new StateKeeperError(
      "E_INVALID_ARGUMENT",
      `${flag} must be a duration like 30s, 2m or 1500ms (got ${JSON.stringify(printable(text))})`,
    );
  const n = Number(m[1]);
  const unit = m[2] ?? "s";
  const factor = unit === "ms" ? 1 : unit === "s" ? 1000 : unit === "m" ? 60_000 : 3_600_000;
  return Math.round(n * factor);
}

/** Parses "256MiB", "100MB", "1GiB", "512KiB" or a plain number of bytes. */
export function parseSize(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB)?$/i.exec(text.trim());
  if (m === null)
    throw new StateKeeperError(
      "E_INVALID_ARGUMENT",
      `${flag} must be a size like 256MiB, 100MB or 1048576 (got ${JSON.stringify(printable(text))})`,
    );
  const unit = (m[2] ?? "B").toLowerCase();
  const factor: Record<string, number> = {
    b: 1,
    kb: 1e3,
    kib: 1024,
    mb: 1e6,
    mib: 1024 ** 2,
    gb: 1e9,
    gib: 1024 ** 3,
  };
  return Math.floor(Number(m[1]) * (factor[unit] ?? 1));
}
