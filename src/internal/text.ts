// Control characters: one definition for every check and every escape.

/** Unicode's control characters (general category Cc: C0, DEL and C1). */
const CONTROL = /\p{Cc}/u;
const CONTROL_ALL = /\p{Cc}/gu;

/** Whether `s` holds a control character: no key, name, id, status or author may. */
export function hasControlCharacter(s: string): boolean {
  return CONTROL.test(s);
}

/** Every control character in `s` as `\uXXXX`, so text read from a store cannot drive a terminal. */
export function escapeControlCharacters(s: string): string {
  return s.replace(CONTROL_ALL, (c) => `\\u${(c.codePointAt(0) ?? 0).toString(16).padStart(4, "0")}`);
}

/** A byte count for people: `512 B`, `1.5 KiB`, `23 MiB`. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

/** How long ago an instant was: "5s ago", "3m ago", "2h ago", "4d ago" ("?" for none). */
export function age(iso: string | null, now = Date.now()): string {
  if (iso === null) return "?";
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}
