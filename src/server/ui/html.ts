/**
 * HTML for the web view: a tagged template that escapes every interpolated value unless it is
 * already `Html` (built by this template). State is attacker-controlled input: an entry address
 * such as `<script>…</script>` must come out as text, so nothing reaches a page unescaped.
 */

/** Markup built by `html` (or `raw` for constant markup): inserted as it is. */
export class Html {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
  toString(): string {
    return this.text;
  }
}

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
  "`": "&#96;",
};

/** Text safe in element content and in a quoted attribute value. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"'`]/g, (c) => ESCAPES[c] as string);
}

/** An interpolated value: Html as is, arrays joined, null/undefined/false as nothing, anything else escaped. */
function part(value: unknown): string {
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(part).join("");
  if (value === undefined || value === null || value === false) return "";
  return escapeHtml(String(value));
}

/** `html\`<td>${address}</td>\``: every value escaped. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0] as string;
  for (let i = 0; i < values.length; i++) out += part(values[i]) + (strings[i + 1] as string);
  return new Html(out);
}

/** Constant markup written in this code base; never pass it anything from a request or a state. */
export function raw(markup: string): Html {
  return new Html(markup);
}

/** A URL path segment. */
export function seg(value: string): string {
  return encodeURIComponent(value);
}

/** A query string from pairs; undefined values are left out. */
export function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s === "" ? "" : `?${s}`;
}
