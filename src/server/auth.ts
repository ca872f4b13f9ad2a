/**
 * Authentication and scopes for `statekeeper serve`, the HTTP backend of Terraform and OpenTofu
 * (each state at `/tf/<factory>/<stack>`). A pure unit: the server hands it the `Authorization`
 * header and asks whether the principal it got back may do a scope on a factory and stack.
 *
 * Credentials: `Bearer <token>`, or HTTP Basic whose password is the token (Terraform's http
 * backend only sends Basic; the username is ignored). Tokens come from `STATEKEEPER_SERVER_TOKEN`
 * (the principal "admin", admin on everything) and from a tokens file of SHA-256 hashes with
 * scopes per `<factory>/<stack>` pattern. No secret ever appears in a message: not a token, and
 * never more than the first 8 characters of a hash.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { readFile } from "node:fs/promises";
import { MAX_NAME_LENGTH, validateFactoryName, validateName } from "../backend/names.js";
import { StateKeeperError, truncateForMessage } from "../errors.js";

/** What a principal may do on a state: `admin` implies the other three. */
export type Scope = "read" | "write" | "lock" | "admin";

/** Every scope, weakest first. */
export const SCOPES: readonly Scope[] = Object.freeze(["read", "write", "lock", "admin"] as const);

/** Who made a request. Safe to log: it carries no secret. */
export interface Principal {
  /** The token's name in the tokens file, "admin" (STATEKEEPER_SERVER_TOKEN) or "anonymous" (open server). */
  readonly name: string;
  /** True when it has admin on every path (the pattern "*" + "/" + "*" with admin, or the admin token). */
  readonly admin: boolean;
}

/** Authenticates requests and answers scope questions; built by `createAuthenticator`. */
export interface Authenticator {
  /** True when no token is configured at all (the server then requires --insecure-no-auth on non-loopback). */
  readonly open: boolean;
  /**
   * The principal whose token the `Authorization` header carries; undefined for no, malformed or
   * unknown credentials (the server answers 401). With `open`, every request is the principal
   * "anonymous" with admin on everything. Never throws.
   */
  authenticate(authorization: string | undefined): Principal | undefined;
  /**
   * Whether `principal` may do `scope` on `<factory>/<stack>` (the server answers 403 when not).
   * False for a principal this authenticator did not return, an unknown scope, or a factory or
   * stack that is not a valid name.
   */
  allows(principal: Principal, scope: Scope, factory: string, stack: string): boolean;
}

/** One token of a tokens file, as written in the file. */
export interface TokenEntry {
  /** Shown in access logs: 1 to 64 characters of `[A-Za-z0-9._@+-]`, unique in the file. */
  readonly name: string;
  /** The SHA-256 of the UTF-8 token, 64 lowercase hex characters (`hashToken`). */
  readonly sha256: string;
  /** Pattern `<factory>/<stack>` (each side a name or a glob with `*`) to the scopes it grants. */
  readonly scopes: Readonly<Record<string, readonly Scope[]>>;
}

/** A validated tokens file: `{ "tokens": [ { "name", "sha256", "scopes" }, … ] }`. */
export interface TokensFile {
  /** Where it was read from; named in every error about it. */
  readonly path: string;
  readonly tokens: readonly TokenEntry[];
}

/** Shortest admin token accepted from the environment: a guessable admin token is worse than none. */
const MIN_ADMIN_TOKEN_LENGTH = 16;
const ADMIN_NAME = "admin";
const ANONYMOUS_NAME = "anonymous";
/** Names the file may not use, so an access log never confuses a file token with these two. */
const RESERVED_NAMES = [ADMIN_NAME, ANONYMOUS_NAME];
const TOKEN_NAME = /^[A-Za-z0-9._@+-]{1,64}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;
/** A pattern side: the factory/stack name alphabet of backend/names.ts, plus `*`. */
const GLOB = /^[A-Za-z0-9*][A-Za-z0-9._@+=*-]*$/;
const ENTRY_FIELDS = ["name", "sha256", "scopes"];

/**
 * The lowercase hex SHA-256 of the UTF-8 `token`: what a tokens file stores. A plain, unsalted
 * hash is right here because tokens are random high-entropy strings (`newToken`: 256 bits), not
 * passwords: there is nothing to brute-force, so a slow or salted hash would add nothing.
 */
export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** A fresh token: 32 random bytes, base64url (43 characters), for `statekeeper serve token`. */
export function newToken(): string {
  return randomBytes(32).toString("base64url");
}

/** Reads and validates a tokens file; every problem is E_INVALID_CONFIG naming the file. */
export async function loadTokensFile(path: string): Promise<TokensFile> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "does not exist" : `cannot be read (${code ?? "unknown error"})`;
    throw new StateKeeperError("E_INVALID_CONFIG", `tokens file ${path} ${why}`, {
      cause: e,
      details: { path },
    });
  }
  return parseTokensFile(path, text);
}

/**
 * Validates the text of a tokens file, strictly: unknown fields, bad names, hashes, patterns or
 * scopes, duplicate names and duplicate hashes are all refused (E_INVALID_CONFIG naming the
 * file, the token by index and name, and the field). An empty `tokens` list is valid.
 */
export function parseTokensFile(path: string, text: string): TokensFile {
  let doc: unknown;
  try {
    // A leading BOM (some editors write one) is not JSON.
    doc = JSON.parse(text.startsWith("\uFEFF") ? text.slice(1) : text);
  } catch {
    // Neither the parser's message nor the error as cause: V8 quotes the text, which may hold a token.
    throw fileError(path, "is not valid JSON");
  }
  if (!isPlainObject(doc)) throw fileError(path, 'must be a JSON object with a "tokens" array');
  for (const key of Object.keys(doc))
    if (key !== "tokens")
      throw fileError(path, `has an unknown field ${quote(key)} (the only field is "tokens")`);
  if (!("tokens" in doc)) throw fileError(path, 'has no "tokens" array');
  return Object.freeze({ path, tokens: validateTokens(path, doc.tokens) });
}

/**
 * Builds the authenticator from the admin token (the value of `STATEKEEPER_SERVER_TOKEN`) and a
 * tokens file, either or both. With neither, it is `open`. An admin token shorter than 16
 * characters, with spaces or non-ASCII characters, or equal to a token of the file is refused
 * (E_INVALID_CONFIG). A tokens file, even an empty one, closes the server.
 */
export function createAuthenticator(
  options: { adminToken?: string | undefined; tokensFile?: TokensFile | undefined } = {},
): Authenticator {
  const { adminToken, tokensFile } = options;
  // Grants are kept here, not on the principal: a principal object cannot be forged or widened.
  const grantsOf = new WeakMap<Principal, readonly Grant[]>();
  const principal = (name: string, grants: readonly Grant[]): Principal => {
    const p: Principal = Object.freeze({ name, admin: grants.some(isAdminEverywhere) });
    grantsOf.set(p, grants);
    return p;
  };
  const everything: readonly Grant[] = [{ factory: "*", stack: "*", scopes: new Set(SCOPES) }];

  const credentials: { hash: Buffer; principal: Principal }[] = [];
  if (adminToken !== undefined) {
    checkAdminToken(adminToken);
    credentials.push({ hash: digest(adminToken), principal: principal(ADMIN_NAME, everything) });
  }
  if (tokensFile !== undefined) {
    // Validated again: a TokensFile may have been built by hand rather than parsed.
    const tokens = validateTokens(tokensFile.path, tokensFile.tokens);
    const adminHash = adminToken === undefined ? undefined : hashToken(adminToken);
    tokens.forEach((t, index) => {
      if (t.sha256 === adminHash)
        throw tokenError(
          tokensFile.path,
          index,
          t.name,
          "sha256",
          "is the hash of STATEKEEPER_SERVER_TOKEN: give each principal its own token",
        );
      credentials.push({
        hash: Buffer.from(t.sha256, "hex"),
        principal: principal(t.name, compile(t.scopes)),
      });
    });
  }

  const open = adminToken === undefined && tokensFile === undefined;
  const anonymous = principal(ANONYMOUS_NAME, everything);
  return Object.freeze({
    open,
    authenticate(authorization: string | undefined): Principal | undefined {
      if (open) return anonymous;
      const token = presentedToken(authorization);
      if (token === undefined) return undefined;
      const hash = digest(token);
      // Every entry is compared, in constant time, with no early exit on a match: how long this
      // takes does not tell which entry (if any) matched.
      let found: Principal | undefined;
      for (const c of credentials) if (timingSafeEqual(hash, c.hash)) found = c.principal;
      return found;
    },
    allows(p: Principal, scope: Scope, factory: string, stack: string): boolean {
      const grants = grantsOf.get(p);
      if (grants === undefined || !isValid(validateFactoryName, factory) || !isValid(validateStack, stack))
        return false;
      return grants.some(
        (g) => g.scopes.has(scope) && globMatches(g.factory, factory) && globMatches(g.stack, stack),
      );
    },
  });
}

// ---- credentials ----------------------------------------------------------------------------

/**
 * The token an `Authorization` header carries, or undefined when it carries none or is malformed:
 * `Bearer <token>` (visible ASCII), or `Basic <base64 of user:token>` (canonical, padded base64 of
 * valid UTF-8, with a colon; the username is ignored, the password must not be empty). Scheme
 * names are case-insensitive.
 */
function presentedToken(header: unknown): string | undefined {
  if (typeof header !== "string") return undefined;
  const match = /^([A-Za-z]+) +([\x21-\x7e]+)$/.exec(header.trim());
  if (match === null) return undefined;
  const credentials = match[2] ?? "";
  switch (match[1]?.toLowerCase()) {
    case "bearer":
      return credentials;
    case "basic":
      return basicPassword(credentials);
    default:
      return undefined;
  }
}

/** The password of HTTP Basic credentials, or undefined when they are malformed or it is empty. */
function basicPassword(base64: string): string | undefined {
  if (base64.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) return undefined;
  const bytes = Buffer.from(base64, "base64");
  // Node's decoder skips what it cannot read: only the canonical encoding is accepted.
  if (bytes.toString("base64") !== base64) return undefined;
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return undefined;
  }
  const colon = text.indexOf(":");
  if (colon < 0) return undefined;
  const password = text.slice(colon + 1);
  return password === "" ? undefined : password;
}

function digest(token: string): Buffer {
  return createHash("sha256").update(token, "utf8").digest();
}

/** Refuses an admin token that is guessable or that no client could send in a header. */
function checkAdminToken(token: unknown): void {
  if (typeof token !== "string" || token.length < MIN_ADMIN_TOKEN_LENGTH)
    throw new StateKeeperError(
      "E_INVALID_CONFIG",
      `STATEKEEPER_SERVER_TOKEN must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters`,
      { details: { option: "STATEKEEPER_SERVER_TOKEN" } },
    );
  if (!/^[\x21-\x7e]+$/.test(token))
    throw new StateKeeperError(
      "E_INVALID_CONFIG",
      "STATEKEEPER_SERVER_TOKEN must be printable ASCII without spaces or line breaks (it is sent in an Authorization header)",
      { details: { option: "STATEKEEPER_SERVER_TOKEN" } },
    );
}

// ---- scopes -----------------------------------------------------------------------------------

/** One pattern of a token, compiled: two globs and the scopes they grant (admin expanded). */
interface Grant {
  readonly factory: string;
  readonly stack: string;
  readonly scopes: ReadonlySet<Scope>;
}

function compile(scopes: Readonly<Record<string, readonly Scope[]>>): Grant[] {
  return Object.entries(scopes).map(([pattern, granted]) => {
    // The stack is after the last '/': a factory side may hold '/' (see patternProblem).
    const cut = pattern.lastIndexOf("/");
    const factory = pattern.slice(0, cut);
    const stack = pattern.slice(cut + 1);
    return { factory, stack, scopes: new Set(granted.includes("admin") ? SCOPES : granted) };
  });
}

function isAdminEverywhere(g: Grant): boolean {
  return g.factory === "*" && g.stack === "*" && g.scopes.has("admin");
}

const validateStack = (name: unknown) => validateName("stack", name);

function isValid(validate: (name: unknown) => string, name: unknown): boolean {
  try {
    validate(name);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether `name` matches `glob`, where `*` matches any run of characters, also an empty one
 * (callers pass valid names only, so any run of name characters, and of a factory's `/`). Iterative with one backtrack
 * point, O(glob × name) at worst: no regular expression, so no pattern can make it blow up.
 */
function globMatches(glob: string, name: string): boolean {
  let g = 0;
  let n = 0;
  let star = -1;
  let resume = 0;
  while (n < name.length) {
    if (glob[g] === "*") {
      star = g++;
      resume = n;
    } else if (g < glob.length && glob[g] === name[n]) {
      g++;
      n++;
    } else if (star >= 0) {
      g = star + 1;
      n = ++resume;
    } else return false;
  }
  while (glob[g] === "*") g++;
  return g === glob.length;
}

// ---- tokens file validation -------------------------------------------------------------------

function validateTokens(path: string, tokens: unknown): TokenEntry[] {
  if (!Array.isArray(tokens)) throw fileError(path, '"tokens" must be an array');
  const entries: TokenEntry[] = [];
  const names = new Map<string, number>();
  const hashes = new Map<string, number>();
  (tokens as unknown[]).forEach((raw, index) => {
    const entry = validateEntry(path, index, raw);
    const sameName = names.get(entry.name);
    if (sameName !== undefined)
      throw tokenError(path, index, entry.name, "name", `is already the name of tokens[${sameName}]`);
    const sameHash = hashes.get(entry.sha256);
    if (sameHash !== undefined)
      throw tokenError(
        path,
        index,
        entry.name,
        "sha256",
        // A hash prefix identifies the entry without giving the hash away.
        `${entry.sha256.slice(0, 8)}… is also the hash of tokens[${sameHash}] (${quote(entries[sameHash]?.name)}): every token must be distinct`,
      );
    names.set(entry.name, index);
    hashes.set(entry.sha256, index);
    entries.push(entry);
  });
  return Object.freeze(entries) as TokenEntry[];
}

function validateEntry(path: string, index: number, raw: unknown): TokenEntry {
  if (!isPlainObject(raw)) throw tokenError(path, index, undefined, undefined, "must be an object");
  const { name } = raw;
  if (typeof name !== "string" || !TOKEN_NAME.test(name))
    throw tokenError(
      path,
      index,
      undefined,
      "name",
      name === undefined
        ? "is missing"
        : "must be 1 to 64 characters of A-Z a-z 0-9 . _ @ + - (it names the token in access logs)",
    );
  if (RESERVED_NAMES.includes(name.toLowerCase()))
    throw tokenError(path, index, name, "name", `is reserved (${RESERVED_NAMES.join(", ")})`);
  // Reported by name only: an unknown field may be a plaintext token under another name.
  for (const key of Object.keys(raw))
    if (!ENTRY_FIELDS.includes(key))
      throw tokenError(
        path,
        index,
        name,
        key,
        `is not a known field (${ENTRY_FIELDS.join(", ")})`,
        quote(key),
      );

  const { sha256 } = raw;
  if (sha256 === undefined) throw tokenError(path, index, name, "sha256", "is missing");
  // Never echoed, not even a prefix: it may be the token itself, pasted in by mistake.
  if (typeof sha256 !== "string" || !SHA256_HEX.test(sha256))
    throw tokenError(
      path,
      index,
      name,
      "sha256",
      "must be 64 lowercase hex characters, the SHA-256 of the token (not the token itself)" +
        (typeof sha256 === "string" ? `; it has ${sha256.length} characters` : ""),
    );

  const { scopes } = raw;
  if (scopes === undefined) throw tokenError(path, index, name, "scopes", "is missing");
  if (!isPlainObject(scopes))
    throw tokenError(path, index, name, "scopes", 'must be an object of "<factory>/<stack>": [scopes]');
  const patterns = Object.keys(scopes);
  if (patterns.length === 0) throw tokenError(path, index, name, "scopes", "must grant at least one pattern");
  const validated: Record<string, readonly Scope[]> = {};
  for (const pattern of patterns) {
    const field = `scopes[${quote(pattern)}]`;
    const problem = patternProblem(pattern);
    if (problem !== undefined)
      throw tokenError(path, index, name, field, `is not a valid pattern: ${problem}`);
    validated[pattern] = validateScopeList(path, index, name, field, scopes[pattern]);
  }
  return Object.freeze({ name, sha256, scopes: Object.freeze(validated) });
}

function validateScopeList(path: string, index: number, name: string, field: string, list: unknown): Scope[] {
  const known = `(known: ${SCOPES.join(", ")})`;
  if (!Array.isArray(list) || list.length === 0)
    throw tokenError(path, index, name, field, `must be a non-empty array of scopes ${known}`);
  const seen = new Set<Scope>();
  for (const scope of list as unknown[]) {
    if (typeof scope !== "string" || !(SCOPES as readonly string[]).includes(scope))
      throw tokenError(
        path,
        index,
        name,
        field,
        `has an unknown scope ${typeof scope === "string" ? quote(scope) : String(scope)} ${known}`,
      );
    if (seen.has(scope as Scope)) throw tokenError(path, index, name, field, `lists ${quote(scope)} twice`);
    seen.add(scope as Scope);
  }
  return Object.freeze([...seen]) as Scope[];
}

/**
 * Why `pattern` is not `<factory>/<stack>` with each side a name or a `*` glob; undefined when it
 * is. The stack side is after the last '/' (stack names never hold one); the factory side is
 * everything before it, so a factory with '/' is written as it is named:
 * `github.com/acme/webshop/prod`, or `github.com/acme/` then `*` `/` `*` for every stack of every
 * factory under it. Each '/'-separated segment of the factory side is a name or a glob, and a `*`
 * there matches across '/' too (so the all-star pattern still grants every stack of every factory).
 */
function patternProblem(pattern: string): string | undefined {
  const cut = pattern.lastIndexOf("/");
  if (cut === -1) return "must be <factory>/<stack>, the stack after the last '/'";
  const factory = pattern.slice(0, cut);
  const stack = pattern.slice(cut + 1);
  if (factory.length > MAX_NAME_LENGTH)
    return `the factory side ${quote(factory)} must be at most ${MAX_NAME_LENGTH} characters`;
  for (const segment of factory.split("/")) {
    const problem = globProblem(segment);
    if (problem !== undefined)
      return factory.includes("/")
        ? `the factory side ${quote(factory)} has a segment ${quote(segment)} that ${problem}`
        : `the factory side ${quote(factory)} ${problem}`;
  }
  const problem = globProblem(stack);
  if (problem !== undefined) return `the stack side ${quote(stack)} ${problem}`;
  return undefined;
}

/**
 * Why `side` is neither a factory/stack name nor a glob of one; undefined when it is. The rules
 * of `validateName` (backend/names.ts) with `*` allowed anywhere, once at a time: so a glob is
 * refused exactly when it could never match a valid name.
 */
function globProblem(side: string): string | undefined {
  if (side === "") return "is empty (use '*' for any)";
  if (side.length > MAX_NAME_LENGTH) return `must be at most ${MAX_NAME_LENGTH} characters`;
  if (side.includes("**")) return "must not contain '**' (one '*' matches any run of characters)";
  if (!GLOB.test(side))
    return "must start with a letter, digit or '*' and use only letters, digits, . _ @ + = - and '*' as wildcard";
  if (side.includes("..")) return "must not contain '..'";
  return undefined;
}

// ---- helpers ----------------------------------------------------------------------------------

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function quote(s: unknown): string {
  return JSON.stringify(truncateForMessage(String(s), 64));
}

function fileError(path: string, why: string): StateKeeperError {
  return new StateKeeperError("E_INVALID_CONFIG", `tokens file ${path} ${why}`, { details: { path } });
}

/** An error about one token: the file, the token by index (and name when valid), the field. */
function tokenError(
  path: string,
  index: number,
  name: string | undefined,
  field: string | undefined,
  why: string,
  fieldShown = field,
): StateKeeperError {
  const token = `tokens[${index}]${name === undefined ? "" : ` (${quote(name)})`}`;
  return new StateKeeperError(
    "E_INVALID_CONFIG",
    `tokens file ${path}: ${token}${fieldShown === undefined ? "" : ` ${fieldShown}`} ${why}`,
    {
      details: {
        path,
        index,
        ...(name === undefined ? {} : { name }),
        ...(field === undefined ? {} : { field }),
      },
    },
  );
}
