// Objects laid out exactly as DigitalOcean's Spaces state store writes them, built from its
// documented format and its Go code (GoCodeAlone/workflow-plugin-digitalocean,
// internal/statebackend/spaces.go), not with statekeeper's own encoder, so a test of the spaces
// layout reads what the original wrote rather than what statekeeper thinks it wrote.
import type { ObjectStore } from "../../src/objectstore/types.js";

/** The original's `IaCState`, in its Go struct's field order; `omitempty` fields may be absent. */
export interface OriginalState {
  resource_id: string;
  resource_type?: string;
  provider?: string;
  provider_ref?: string;
  provider_id?: string;
  config_hash?: string;
  status?: string;
  outputs?: Record<string, unknown> | null;
  config?: Record<string, unknown> | null;
  dependencies?: string[];
  created_at?: string;
  updated_at?: string;
  error?: string;
}

/** Go `sanitizeID`: `strings.ReplaceAll` of `/`, then of `\`, with `_`. */
export function sanitizeID(id: string): string {
  return id.replaceAll("/", "_").replaceAll("\\", "_");
}

/** Go `(*SpacesIaCStateStore).stateKey`: `s.prefix + sanitizeID(resourceID) + ".json"`. */
export function stateKey(prefix: string, id: string): string {
  return `${prefix}${sanitizeID(id)}.json`;
}

/** Go `(*SpacesIaCStateStore).lockKey`: `s.prefix + sanitizeID(resourceID) + ".lock"`. */
export function lockKey(prefix: string, id: string): string {
  return `${prefix}${sanitizeID(id)}.lock`;
}

/**
 * Go `encoding/json` for a value: map keys sorted, `<`, `>`, `&`, U+2028 and U+2029 escaped
 * (`json.Marshal`'s HTML-safe default), indented like `json.MarshalIndent(v, "", "  ")`.
 */
function goJson(value: unknown, indent: string): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "string")
    return JSON.stringify(value)
      .replaceAll("<", "\\u003c")
      .replaceAll(">", "\\u003e")
      .replaceAll("&", "\\u0026")
      .replaceAll("\u2028", "\\u2028")
      .replaceAll("\u2029", "\\u2029");
  if (typeof value !== "object") return JSON.stringify(value);
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    return `[\n${value.map((v) => inner + goJson(v, inner)).join(",\n")}\n${indent}]`;
  }
  const keys = Object.keys(value).sort(); // Go sorts map keys
  if (keys.length === 0) return "{}";
  const o = value as Record<string, unknown>;
  return `{\n${keys.map((k) => `${inner}${goJson(k, inner)}: ${goJson(o[k], inner)}`).join(",\n")}\n${indent}}`;
}

/**
 * Go `SaveState`'s body: `json.MarshalIndent(state, "", "  ")` of the `IaCState` struct — the
 * struct's field order (not sorted), `omitempty` on provider_ref, provider_id, config_hash,
 * dependencies and error, a nil map as `null`, no trailing newline. The original sets no
 * timestamp itself: whatever the engine put in created_at/updated_at is written.
 */
export function stateBody(s: OriginalState): Uint8Array {
  const fields: [string, unknown, boolean][] = [
    ["resource_id", s.resource_id, false],
    ["resource_type", s.resource_type ?? "", false],
    ["provider", s.provider ?? "", false],
    ["provider_ref", s.provider_ref ?? "", true],
    ["provider_id", s.provider_id ?? "", true],
    ["config_hash", s.config_hash ?? "", true],
    ["status", s.status ?? "", false],
    ["outputs", s.outputs ?? null, false],
    ["config", s.config ?? null, false],
    ["dependencies", s.dependencies ?? [], true],
    ["created_at", s.created_at ?? "", false],
    ["updated_at", s.updated_at ?? "", false],
    ["error", s.error ?? "", true],
  ];
  const kept = fields.filter(
    ([, v, omitEmpty]) => !(omitEmpty && (v === "" || (Array.isArray(v) && v.length === 0))),
  );
  const text = `{\n${kept.map(([k, v]) => `  ${JSON.stringify(k)}: ${goJson(v, "  ")}`).join(",\n")}\n}`;
  return new TextEncoder().encode(text);
}

/** Go `Lock`'s body: `time.Now().UTC().Format(time.RFC3339)`, e.g. `2026-05-01T10:00:00Z`. */
export function lockBody(at: Date): Uint8Array {
  return new TextEncoder().encode(`${at.toISOString().slice(0, 19)}Z`);
}

/** Writes records (and locks) as the original would have, at its keys, unconditionally as it did. */
export async function writeOriginal(
  store: ObjectStore,
  prefix: string,
  states: OriginalState[],
  locked: { id: string; at: Date }[] = [],
): Promise<void> {
  for (const s of states) await store.put(stateKey(prefix, s.resource_id), stateBody(s));
  for (const l of locked) await store.put(lockKey(prefix, l.id), lockBody(l.at));
}
