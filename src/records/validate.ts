import type { Encrypter } from "../crypto/types.js";
import { isStateKeeperError, StateKeeperError, truncateForMessage } from "../errors.js";
import { hasControlCharacter } from "../internal/text.js";
import { validateResourceId } from "./keys.js";
import {
  type IaCState,
  type IaCStateInput,
  RESOURCE_STATUSES,
  type RecordStatus,
  type ResourceStatus,
} from "./types.js";

/** Largest stored record, checked before parsing or sealing. */
export const MAX_RECORD_BYTES = 8 * 1024 * 1024;

const FIELDS = [
  "resource_id",
  "resource_type",
  "provider",
  "provider_ref",
  "provider_id",
  "config_hash",
  "status",
  "outputs",
  "config",
  "dependencies",
  "created_at",
  "updated_at",
  "error",
] as const;
const KNOWN_FIELDS: ReadonlySet<string> = new Set(FIELDS);
const OPTIONAL_STRINGS = ["provider_ref", "provider_id", "config_hash", "error"] as const;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;

function invalid(field: string, value: unknown, reason: string): StateKeeperError {
  const shown = truncateForMessage(typeof value === "string" ? JSON.stringify(value) : String(value));
  return new StateKeeperError("E_INVALID_RECORD", `invalid record: ${field} ${shown} ${reason}`, {
    details: { field, value: truncateForMessage(String(value)) },
  });
}

/** One of the six statuses the engines document (statuses themselves are free-form, as in the original). */
export function isResourceStatus(value: unknown): value is ResourceStatus {
  return typeof value === "string" && (RESOURCE_STATUSES as readonly string[]).includes(value);
}

/** Longest status, in UTF-8 bytes: the original took any string; one this long is a mistake, not a state. */
export const MAX_STATUS_BYTES = 128;

/**
 * Why `value` cannot be a status, or `undefined` when it can: any non-empty string of at most
 * `MAX_STATUS_BYTES` without control characters (the original stored any string; `"pending"`
 * and `"drifted"` are real statuses engines write).
 */
export function statusProblem(value: unknown): string | undefined {
  if (typeof value !== "string" || value === "")
    return `must be a non-empty string (${RESOURCE_STATUSES.join(", ")}, or another status)`;
  if (Buffer.byteLength(value, "utf8") > MAX_STATUS_BYTES) return `is longer than ${MAX_STATUS_BYTES} bytes`;
  if (hasControlCharacter(value)) return "must not contain control characters";
  if (!value.isWellFormed()) return "must be well-formed unicode";
  return undefined;
}

/** True for any acceptable status, one of the six or not (see `statusProblem`). */
export function isValidStatus(value: unknown): value is RecordStatus {
  return statusProblem(value) === undefined;
}

export function isRfc3339(value: unknown): value is string {
  return typeof value === "string" && RFC3339.test(value) && !Number.isNaN(Date.parse(value));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Checks a state given to `save` and fills the defaults (`""`, `{}`); the timestamps stay as
 * given (or absent) because `save` decides them. Unknown fields are refused: a misspelt field
 * would otherwise be dropped without a word.
 */
export function validateStateInput(input: unknown): IaCStateInput {
  if (!isPlainObject(input)) throw invalid("state", input, "must be an object");
  for (const field of Object.keys(input))
    if (!KNOWN_FIELDS.has(field)) throw invalid(field, "(field)", "is not an IaCState field");
  return checkFields(input, "input");
}

/**
 * Reads a stored record body: size cap, JSON, fields, and that it belongs to `id` (a body that
 * names another resource was copied or moved). Unknown fields are ignored, as the engines do.
 * Failures are `E_CORRUPT` (or `E_TOO_LARGE`) with the validation error as `cause`.
 */
export function decodeStoredState(body: Uint8Array, id: string): IaCState {
  const state = decodeStoredBody(body, id);
  if (state.resource_id !== id)
    throw new StateKeeperError(
      "E_CORRUPT",
      `record stored for ${JSON.stringify(id)} names resource ${JSON.stringify(truncateForMessage(state.resource_id))}`,
      { details: { id } },
    );
  return state;
}

/**
 * `decodeStoredState` without the check that the body names `label`: for a layout whose keys do
 * not say which id they hold (DigitalOcean's Spaces keys), where the caller checks the id itself.
 * `label` names the record in errors (the id asked for, or the key).
 */
export function decodeStoredBody(body: Uint8Array, label: string): IaCState {
  const id = label;
  if (body.byteLength > MAX_RECORD_BYTES)
    throw new StateKeeperError(
      "E_TOO_LARGE",
      `record ${JSON.stringify(id)} is larger than ${MAX_RECORD_BYTES} bytes`,
      {
        details: { id, size: body.byteLength },
      },
    );
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch (cause) {
    throw new StateKeeperError("E_CORRUPT", `record ${JSON.stringify(id)} is not valid JSON`, {
      cause,
      details: { id },
    });
  }
  let state: IaCStateInput;
  try {
    if (!isPlainObject(parsed)) throw invalid("state", parsed, "must be an object");
    state = checkFields(parsed, "stored");
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new StateKeeperError("E_CORRUPT", `record ${JSON.stringify(id)} is malformed: ${reason}`, {
      cause,
      details: { id },
    });
  }
  return { ...state, created_at: state.created_at ?? "", updated_at: state.updated_at ?? "" } as IaCState;
}

function checkFields(o: Record<string, unknown>, mode: "input" | "stored"): IaCStateInput {
  const id = o.resource_id;
  if (id === undefined || id === "") throw invalid("resource_id", id, "is required");
  if (mode === "input") validateResourceId(id);
  else if (typeof id !== "string") throw invalid("resource_id", id, "must be a string");
  // The original wrote `"status": ""` for a record saved without one: read it, never write it.
  const badStatus = mode === "stored" && o.status === "" ? undefined : statusProblem(o.status);
  if (badStatus !== undefined) throw invalid("status", o.status, badStatus);

  const state: IaCStateInput = {
    resource_id: id as string,
    resource_type: optionalString(o, "resource_type") ?? "",
    provider: optionalString(o, "provider") ?? "",
    status: o.status as RecordStatus,
    outputs: freeForm(o, "outputs"),
    config: freeForm(o, "config"),
  };
  for (const field of OPTIONAL_STRINGS) {
    const value = optionalString(o, field);
    if (value !== undefined && value !== "") state[field] = value;
  }
  if (o.dependencies !== undefined && o.dependencies !== null) {
    const deps = o.dependencies;
    if (!Array.isArray(deps) || !deps.every((d) => typeof d === "string"))
      throw invalid("dependencies", deps, "must be an array of strings");
    if (deps.length > 0) state.dependencies = [...deps];
  }
  for (const field of ["created_at", "updated_at"] as const) {
    const value = o[field];
    if (value === undefined || (mode === "stored" && value === "")) continue;
    if (!isRfc3339(value)) throw invalid(field, value, "must be an RFC 3339 timestamp");
    state[field] = value;
  }
  return state;
}

function optionalString(o: Record<string, unknown>, field: string): string | undefined {
  const value = o[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw invalid(field, value, "must be a string");
  return value;
}

// The engines serialise a nil map as `null`; read and accept it as `{}`.
function freeForm(o: Record<string, unknown>, field: string): Record<string, unknown> {
  const value = o[field];
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) throw invalid(field, value, "must be a JSON object");
  return value as Record<string, unknown>;
}

/** The stored JSON: DigitalOcean's Spaces store's field order, optional fields left out when empty (Go's `omitempty`). */
export function encodeState(state: IaCState): Uint8Array {
  const ordered: Record<string, unknown> = {};
  for (const field of FIELDS) if (state[field] !== undefined) ordered[field] = state[field];
  let json: string;
  try {
    json = JSON.stringify(ordered);
  } catch (cause) {
    throw new StateKeeperError(
      "E_INVALID_RECORD",
      `invalid record: ${JSON.stringify(state.resource_id)} is not JSON-serialisable`,
      {
        cause,
        details: { id: state.resource_id },
      },
    );
  }
  const body = new TextEncoder().encode(json);
  if (body.byteLength > MAX_RECORD_BYTES)
    throw new StateKeeperError(
      "E_TOO_LARGE",
      `record ${JSON.stringify(state.resource_id)} is larger than ${MAX_RECORD_BYTES} bytes`,
      { details: { id: state.resource_id, size: body.byteLength } },
    );
  return body;
}

/**
 * A record body's plaintext: opened with `encrypter` when there is one (an opening failure that
 * is not a StateKeeperError becomes `E_DECRYPT` naming the record as `name`).
 */
export async function openRecordBytes(
  encrypter: Encrypter | undefined,
  body: Uint8Array,
  key: string,
  name: string,
  details: Record<string, unknown>,
): Promise<Uint8Array> {
  if (encrypter === undefined) return body;
  try {
    return await encrypter.open(body, key);
  } catch (cause) {
    if (isStateKeeperError(cause)) throw cause;
    throw new StateKeeperError("E_DECRYPT", `record ${JSON.stringify(name)} cannot be decrypted`, {
      cause,
      details,
    });
  }
}

/** A record's stored bytes: its JSON, sealed to `key` when there is an encrypter. */
export async function sealRecord(
  encrypter: Encrypter | undefined,
  state: IaCState,
  key: string,
): Promise<Uint8Array> {
  const plain = encodeState(state);
  return encrypter === undefined ? plain : encrypter.seal(plain, key);
}
