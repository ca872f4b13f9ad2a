/**
 * Deterministic JSON for snapshots: pretty (2-space indent), object keys sorted at every depth,
 * and strict about what counts as JSON. `JSON.stringify` silently drops `undefined`, turns NaN
 * into null and calls `toJSON`; a state file must never change meaning that way, so anything
 * that is not plain JSON is refused with the path where it was found.
 */
import { isUtf8 } from "node:buffer";

/** Deeper nesting is refused: it is never legitimate state and would overflow the stack. */
export const MAX_JSON_DEPTH = 1000;

export type JsonPath = ReadonlyArray<string | number>;

/** Internal: where a value stopped being JSON. Callers turn it into a StateKeeperError with context. */
export class NotJsonError extends Error {
  constructor(
    readonly path: JsonPath,
    readonly reason: string,
  ) {
    super(reason);
  }
}

/** `tags.env`, `list[2]`, `tags["a.b"]`: readable, and unambiguous for odd keys. */
export function formatJsonPath(path: JsonPath): string {
  let out = "";
  for (const segment of path) {
    if (typeof segment === "number") out += `[${segment}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(segment)) out += out === "" ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment.length > 60 ? `${segment.slice(0, 60)}…` : segment)}]`;
  }
  return out;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "number") return Number.isNaN(value) ? "NaN" : String(value);
  if (typeof value !== "object") return typeof value;
  const ctor = (Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null)?.constructor;
  return typeof ctor?.name === "string" && ctor.name !== "" ? `a ${ctor.name}` : "an exotic object";
}

/**
 * `bytes` as text when they are valid UTF-8, else undefined; a leading byte-order mark is dropped,
 * as `TextDecoder` drops it. `isUtf8` and `Buffer#toString` run on simdutf: for the many 32 KiB
 * chunks of a format-2 read, three times faster than a fatal `TextDecoder`, and as strict.
 */
export function strictUtf8(bytes: Uint8Array): string | undefined {
  if (!isUtf8(bytes)) return undefined;
  const bom = bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  return Buffer.from(bytes.buffer, bytes.byteOffset + bom, bytes.byteLength - bom).toString("utf8");
}

/** `o[key]` when it is `o`'s own property (never one inherited, such as `__proto__`), else undefined. */
export function own(o: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(o, key) ? o[key] : undefined;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Walks a value the way `serializeSorted` would, without building text.
 * Throws `NotJsonError` at the first non-JSON value (undefined, function, symbol, bigint,
 * NaN/Infinity, class instance, cycle, array hole, excessive depth).
 */
export function assertJsonValue(value: unknown, basePath: JsonPath = []): void {
  const path: Array<string | number> = [...basePath];
  const ancestors = new Set<object>();
  const visit = (v: unknown): void => {
    switch (typeof v) {
      case "string":
      case "boolean":
        return;
      case "number":
        if (!Number.isFinite(v)) throw new NotJsonError([...path], `${describe(v)} is not a JSON number`);
        return;
      case "object":
        break;
      default:
        throw new NotJsonError([...path], `${describe(v)} is not a JSON value`);
    }
    if (v === null) return;
    enter(v, path, ancestors);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        path.push(i);
        visit(v[i]);
        path.pop();
      }
    } else {
      const o = v as Record<string, unknown>;
      for (const key of Object.keys(o)) {
        path.push(key);
        visit(o[key]);
        path.pop();
      }
    }
    ancestors.delete(v);
  };
  visit(value);
}

function enter(v: object, path: Array<string | number>, ancestors: Set<object>): void {
  if (!Array.isArray(v) && !isPlainObject(v))
    throw new NotJsonError([...path], `${describe(v)} is not a plain JSON object`);
  if (ancestors.has(v)) throw new NotJsonError([...path], "cycle: a value contains itself");
  if (ancestors.size >= MAX_JSON_DEPTH)
    throw new NotJsonError([...path], `nested deeper than ${MAX_JSON_DEPTH} levels`);
  ancestors.add(v);
}

/** Hands JSON.stringify each object as a copy with its keys in sorted order. */
function sortKeys(_key: string, value: unknown): unknown {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return value;
  const o = value as Record<string, unknown>;
  // A null-prototype copy: assigning "__proto__" on it defines a key instead of a prototype.
  const sorted = Object.create(null) as Record<string, unknown>;
  for (const key of Object.keys(o).sort()) sorted[key] = o[key];
  return sorted;
}

/** Returned by `sortedCopy` when the value needs the checked, replacer-based path. */
const NEEDS_SLOW_PATH: unique symbol = Symbol("needs slow path");

/**
 * Engines list array-index keys ("0", "10") first, in numeric order, whatever the insertion
 * order, so a copy built in sorted order would not keep it. Any all-digit key counts, which is
 * wider than array indices and therefore safe.
 */
function isIndexLike(key: string): boolean {
  const first = key.charCodeAt(0);
  return first >= 48 && first <= 57 && /^\d+$/.test(key);
}

function inheritsToJSON(): boolean {
  const hasToJSON = (o: object) => typeof (o as { toJSON?: unknown }).toJSON === "function";
  return hasToJSON(Object.prototype) || hasToJSON(Array.prototype);
}

function defineKey(target: Record<string, unknown>, key: string, value: unknown): void {
  // Assigning "__proto__" would set the copy's prototype; defining it keeps it an own key.
  if (key === "__proto__")
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

/**
 * `v` with every object's keys in sorted order, so that the native serializer, without a
 * replacer, writes them sorted. Objects are copied in sorted order; an object or array that is
 * already in order all the way down (e.g. decoded from a snapshot) is used as it is. Anything
 * unusual (a non-JSON value, a `toJSON` method, too deep, which includes every cycle, or an
 * index-like key) gives up with `NEEDS_SLOW_PATH` instead of describing the problem: the slow
 * path handles or names it exactly as before.
 */
function sortedCopy(v: unknown, depth: number): unknown {
  switch (typeof v) {
    case "string":
    case "boolean":
      return v;
    case "number":
      return Number.isFinite(v) ? v : NEEDS_SLOW_PATH;
    case "object":
      break;
    default:
      return NEEDS_SLOW_PATH;
  }
  if (v === null) return v;
  if (depth >= MAX_JSON_DEPTH) return NEEDS_SLOW_PATH;
  // The slow path's serializer would call it.
  if (typeof (v as { toJSON?: unknown }).toJSON === "function") return NEEDS_SLOW_PATH;
  if (Array.isArray(v)) return sortedArray(v, depth);
  return isPlainObject(v) ? sortedObject(v, depth) : NEEDS_SLOW_PATH;
}

function sortedArray(v: readonly unknown[], depth: number): unknown {
  let out: unknown[] | undefined;
  for (let i = 0; i < v.length; i++) {
    const original = v[i];
    const item = sortedCopy(original, depth + 1);
    if (item === NEEDS_SLOW_PATH) return item;
    if (out === undefined) {
      if (item === original) continue;
      out = [];
      for (let j = 0; j < i; j++) out.push(v[j]);
    }
    out.push(item);
  }
  return out ?? v;
}

function sortedObject(v: Record<string, unknown>, depth: number): unknown {
  const keys = Object.keys(v);
  let inOrder = true;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    if (isIndexLike(key)) return NEEDS_SLOW_PATH;
    // `>` on strings compares UTF-16 code units, the order sort() uses.
    if (i > 0 && (keys[i - 1] as string) > key) inOrder = false;
  }
  if (!inOrder) keys.sort();
  let out: Record<string, unknown> | undefined = inOrder ? undefined : {};
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    const original = v[key];
    const item = sortedCopy(original, depth + 1);
    if (item === NEEDS_SLOW_PATH) return item;
    if (out === undefined) {
      if (item === original) continue;
      out = {};
      for (let j = 0; j < i; j++) defineKey(out, keys[j] as string, v[keys[j] as string]);
    }
    defineKey(out, key, item);
  }
  return out ?? v;
}

/**
 * Pretty JSON with 2-space indentation (or none: `indent` 0) and keys sorted (JavaScript's default string order, i.e.
 * UTF-16 code units) at every depth. Equal values always give identical text.
 * Throws `NotJsonError` for anything `assertJsonValue` refuses.
 */
export function serializeSorted(value: unknown, indent: 0 | 2 = 2): string {
  // Common case: one pass checks the value and sorts it, then the native serializer writes it
  // with no replacer to call back per value. Checking before serializing is what makes the
  // native serializer safe: no toJSON, no cycles, no undefined to drop silently.
  // Copies inherit from Object.prototype and Array.prototype: a toJSON planted there would run on
  // a copy where the slow path, which copies to null-prototype objects, would not call it.
  const copy = inheritsToJSON() ? NEEDS_SLOW_PATH : sortedCopy(value, 0);
  if (copy !== NEEDS_SLOW_PATH) return JSON.stringify(copy, null, indent);
  assertJsonValue(value);
  return JSON.stringify(value, sortKeys, indent);
}
