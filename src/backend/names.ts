import { InvalidNameError } from "../errors.js";

/** Longest factory or stack name. Keeps every store key far below S3's 1024-byte limit. */
export const MAX_NAME_LENGTH = 128;
/** Longest key prefix a backend accepts. */
export const MAX_PREFIX_LENGTH = 512;

// One conservative alphabet for every store: no separators, no percent-escapes that a proxy or
// console might decode (`%2e%2e`), no whitespace or control characters.
const NAME = /^[A-Za-z0-9][A-Za-z0-9._@+=-]*$/;

/** Why `name` is not a valid factory/stack name or prefix segment, or undefined when it is. */
function nameProblem(name: string): string | undefined {
  if (name.length === 0) return "must not be empty";
  if (name.length > MAX_NAME_LENGTH) return `must be at most ${MAX_NAME_LENGTH} characters`;
  if (name.includes("..")) return "must not contain '..'";
  if (!NAME.test(name))
    return "must start with a letter or digit and use only letters, digits and . _ @ + = -";
  return undefined;
}

/**
 * Validates a factory or stack name before any I/O: non-empty, at most 128 characters from
 * `[A-Za-z0-9._@+=-]`, starting with a letter or digit, never containing `..`.
 */
export function validateName(what: string, name: unknown): string {
  if (typeof name !== "string") throw new InvalidNameError(what, String(name), "must be a string");
  const problem = nameProblem(name);
  if (problem !== undefined) throw new InvalidNameError(what, name, problem);
  return name;
}

/**
 * Validates a factory name before any I/O: one or more `/`-separated segments (a Go module path
 * such as `github.com/acme/webshop`), each following the `validateName` rules, at most 128
 * characters in all. No empty segment, so no leading, trailing or doubled `/`.
 */
export function validateFactoryName(name: unknown): string {
  if (typeof name !== "string") throw new InvalidNameError("factory", String(name), "must be a string");
  if (!name.includes("/")) return validateName("factory", name);
  if (name.length > MAX_NAME_LENGTH)
    throw new InvalidNameError("factory", name, `must be at most ${MAX_NAME_LENGTH} characters`);
  for (const segment of name.split("/")) {
    const problem =
      segment === ""
        ? "must not have an empty segment (a leading, trailing or doubled '/')"
        : nameProblem(segment);
    if (problem !== undefined)
      throw new InvalidNameError(
        "factory",
        name,
        segment === "" ? problem : `segment ${JSON.stringify(segment)} ${problem}`,
      );
  }
  return name;
}

/**
 * A factory name's `/` within a store key. `~` is outside the name alphabet (so the mapping is
 * injective and reversible) and an RFC 3986 unreserved character (so no client, proxy or console
 * escapes or decodes it, unlike `%2F`). A factory without `/` is its own key segment: keys written
 * before factories could hold `/` are unchanged.
 */
const FACTORY_KEY_SEPARATOR = "~";

/** The one store-key segment of a valid factory name: `github.com/acme/webshop` → `github.com~acme~webshop`. */
export function factoryKey(factory: string): string {
  return factory.replaceAll("/", FACTORY_KEY_SEPARATOR);
}

/**
 * The factory name a key segment encodes (`factoryKey` reversed), validated: `E_INVALID_NAME` when
 * the segment is not the key of any valid factory name. A name without `/` is its own key, so a
 * plain factory name passes through unchanged.
 */
export function factoryOfKey(segment: string): string {
  if (segment.includes("/"))
    throw new InvalidNameError("factory key", segment, "must be one key segment, without '/'");
  return validateFactoryName(segment.replaceAll(FACTORY_KEY_SEPARATOR, "/"));
}

/**
 * Validates a key prefix (`team/prod`, optionally with a trailing `/`) and returns it normalised
 * to end with `/`, or `""` when empty. Each segment follows the `validateName` rules.
 */
export function normalizePrefix(prefix: unknown): string {
  if (prefix === undefined || prefix === "") return "";
  if (typeof prefix !== "string") throw new InvalidNameError("prefix", String(prefix), "must be a string");
  if (prefix.length > MAX_PREFIX_LENGTH)
    throw new InvalidNameError("prefix", prefix, `must be at most ${MAX_PREFIX_LENGTH} characters`);
  const trimmed = prefix.endsWith("/") ? prefix.slice(0, -1) : prefix;
  for (const segment of trimmed.split("/")) {
    const problem = nameProblem(segment);
    if (problem !== undefined)
      throw new InvalidNameError("prefix", prefix, `segment ${JSON.stringify(segment)} ${problem}`);
  }
  return `${trimmed}/`;
}
