/**
 * How an Alchemy `State` sits in a statekeeper snapshot. The stage is the stack; each key of each
 * scope store is one entry whose address is the scope path below the stage and the key joined
 * by `:` (Alchemy forbids `:` in resource and scope ids, so the join is unambiguous). The entry
 * holds exactly what Alchemy's `serialize` produced, as JSON text (see `stateToEntry`). Keys of the app's root scope (the stage's own
 * scope data) live under `:root:` — no Alchemy id is empty, so no resource address starts with `:`.
 */
import { StateKeeperError } from "../errors.js";
import type { Entry, JsonObject } from "../snapshot/types.js";

export const ROOT_PREFIX = ":root:";

/** The address prefix of a scope's keys, from its chain `[app, stage, ...]`. */
export function scopePath(chain: readonly string[]): string {
  if (chain.length <= 1) return ROOT_PREFIX;
  const rest = chain.slice(2);
  return rest.length === 0 ? "" : `${rest.join(":")}:`;
}

/** The address of `key` in the scope whose chain below the stage is `rest`. */
export function addressOf(rest: readonly string[], key: string): string {
  return [...rest, key].join(":");
}

/** The scope path below the stage and the key of an address (`root` for the app scope's keys). */
export function parseAddress(address: string): { root: boolean; scopes: string[]; key: string } {
  if (address.startsWith(ROOT_PREFIX))
    return { root: true, scopes: [], key: address.slice(ROOT_PREFIX.length) };
  const parts = address.split(":");
  return { root: false, scopes: parts.slice(0, -1), key: parts[parts.length - 1] ?? "" };
}

/** The input that holds the state's JSON text. */
export const STATE_INPUT = "alchemy-state";

/**
 * Alchemy's serialized state as an entry. The state is kept as its JSON text, exactly as
 * FileSystemStateStore writes it: Alchemy decides whether a resource changed by comparing
 * `JSON.stringify` of old and new props, so key order is part of the value (statekeeper's
 * snapshot encoding sorts object keys, which would make every resource look changed).
 */
export function stateToEntry(address: string, serialized: unknown): Entry {
  let text: string | undefined;
  try {
    text = JSON.stringify(serialized);
  } catch (cause) {
    throw new StateKeeperError(
      "E_INVALID_ARGUMENT",
      `Alchemy state of ${JSON.stringify(address)} is not JSON`,
      {
        cause,
      },
    );
  }
  const parsed: unknown = text === undefined ? undefined : JSON.parse(text);
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed) || text === undefined)
    throw new StateKeeperError(
      "E_INVALID_ARGUMENT",
      `Alchemy state of ${JSON.stringify(address)} is not an object`,
    );
  const kind = (parsed as { kind?: unknown }).kind;
  return {
    address,
    type: "leaf",
    kind: typeof kind === "string" && kind !== "" ? kind : "alchemy::unknown",
    inputs: { [STATE_INPUT]: text },
  };
}

/** The serialized state an entry holds (what `deserialize(scope, …)` takes), keys in their order. */
export function entryToState(entry: Entry): JsonObject {
  const text = entry.inputs?.[STATE_INPUT];
  if (typeof text !== "string")
    throw new StateKeeperError("E_CORRUPT", `entry ${JSON.stringify(entry.address)} holds no Alchemy state`);
  try {
    return JSON.parse(text) as JsonObject;
  } catch (cause) {
    throw new StateKeeperError(
      "E_CORRUPT",
      `entry ${JSON.stringify(entry.address)}: its Alchemy state is not JSON`,
      {
        cause,
      },
    );
  }
}
