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
