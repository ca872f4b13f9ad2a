// The auth module of `statekeeper serve`: credentials from the Authorization header (Bearer, or
// Terraform's Basic with the token as password), the admin token from the environment, a tokens
// file of hashes with scopes per <factory>/<stack> pattern, and no secret in any message.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { isStateKeeperError, type StateKeeperError } from "../../src/errors.js";
import {
  type Authenticator,
  createAuthenticator,
  hashToken,
  loadTokensFile,
  newToken,
  type Principal,
  parseTokensFile,
  SCOPES,
  type Scope,
  type TokensFile,
} from "../../src/server/auth.js";
import { rejectsWithCode } from "../../src/testing/assertions.js";

const PATH = "/etc/statekeeper/tokens.json";
const CI = newToken();
const OPS = newToken();
const ADMIN = "admin-token-0123456789";

const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`, "utf8").toString("base64")}`;

/** A tokens file of `tokens`, parsed. */
function tokensFile(tokens: unknown[]): TokensFile {
  return parseTokensFile(PATH, JSON.stringify({ tokens }));
}

/** The example file of the docs: a CI token for the webshop factory, read elsewhere; an ops admin. */
function exampleFile(): TokensFile {
  return tokensFile([
    {
      name: "ci-webshop",
      sha256: hashToken(CI),
      scopes: { "webshop/*": ["read", "write", "lock"], "*/*": ["read"] },
    },
    { name: "ops", sha256: hashToken(OPS), scopes: { "*/*": ["admin"] } },
  ]);
}

/** The principal `auth` gives `token`, failing when there is none. */
function principalOf(auth: Authenticator, token: string): Principal {
  const p = auth.authenticate(`Bearer ${token}`);
  assert.ok(p, "the token authenticates");
  return p;
}

/** Asserts `fn` throws E_INVALID_CONFIG whose message contains every fragment; returns the error. */
function refused(fn: () => unknown, ...fragments: string[]): StateKeeperError {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  assert.ok(isStateKeeperError(error), `expected E_INVALID_CONFIG, got ${String(error)}`);
  assert.equal(error.code, "E_INVALID_CONFIG", error.message);
  for (const fragment of fragments)
    assert.ok(error.message.includes(fragment), `${error.message} ∌ ${fragment}`);
  return error;
}

/** Asserts neither the message nor the details of `e` contain any of `secrets`. */
function assertNoSecret(e: StateKeeperError, ...secrets: string[]): void {
  const shown = `${e.message} ${JSON.stringify(e.details)}`;
  for (const secret of secrets) assert.ok(!shown.includes(secret), `a secret leaked into: ${shown}`);
}

describe("hashToken and newToken", () => {
  it("hashToken is the lowercase hex SHA-256 of the UTF-8 token", () => {
    assert.equal(hashToken("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert.equal(
      hashToken("é"),
      createHash("sha256")
        .update(Buffer.from([0xc3, 0xa9]))
        .digest("hex"),
    );
  });

  it("newToken is 32 random bytes in base64url, fresh every time", () => {
    const token = newToken();
    assert.match(token, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(Buffer.from(token, "base64url").length, 32);
    assert.notEqual(newToken(), token);
  });
});

describe("authenticate: credentials in the Authorization header", () => {
  const auth = createAuthenticator({ tokensFile: exampleFile() });

  it("accepts a Bearer token and names its principal", () => {
    assert.equal(auth.authenticate(`Bearer ${CI}`)?.name, "ci-webshop");
    assert.equal(auth.authenticate(`Bearer ${OPS}`)?.name, "ops");
  });

  it("accepts Terraform's Basic auth, the token as password, whatever the username (also empty)", () => {
    assert.equal(auth.authenticate(basic("terraform", CI))?.name, "ci-webshop");
    assert.equal(auth.authenticate(basic("gitlab-ci-token", OPS))?.name, "ops");
    assert.equal(auth.authenticate(basic("", CI))?.name, "ci-webshop");
  });

  it("splits Basic credentials at the first colon: a token may contain colons and any UTF-8", () => {
    const token = "pass:with:colons-and-ünïcode";
    const colons = createAuthenticator({
      tokensFile: tokensFile([{ name: "c", sha256: hashToken(token), scopes: { "*/*": ["read"] } }]),
    });
    assert.equal(colons.authenticate(basic("user", token))?.name, "c");
    // The username ends at the first colon, so this is user "user" with the token as password.
    assert.equal(colons.authenticate(basic("user:pass", "with:colons-and-ünïcode"))?.name, "c");
    assert.equal(colons.authenticate(basic("user", "with:colons-and-ünïcode")), undefined);
  });

  it("takes scheme names in any case", () => {
    for (const scheme of ["bearer", "BEARER", "bEaReR"])
      assert.equal(auth.authenticate(`${scheme} ${CI}`)?.name, "ci-webshop");
    const b64 = Buffer.from(`u:${OPS}`).toString("base64");
    for (const scheme of ["basic", "BASIC", "bAsIc"])
      assert.equal(auth.authenticate(`${scheme} ${b64}`)?.name, "ops");
  });

  it("refuses a wrong token, also one differing in a single character", () => {
    assert.equal(auth.authenticate(`Bearer ${newToken()}`), undefined);
    assert.equal(auth.authenticate(basic("terraform", newToken())), undefined);
    assert.equal(auth.authenticate(`Bearer ${CI}x`), undefined);
    assert.equal(auth.authenticate(`Bearer ${CI.slice(0, -1)}`), undefined);
    assert.equal(auth.authenticate(`Bearer ${hashToken(CI)}`), undefined, "the hash is not the token");
  });

  it("refuses no header and malformed headers, even around a valid token", () => {
    const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
    const malformed = [
      "",
      "   ",
      "Bearer",
      "Bearer ",
      "Basic",
      "Basic ",
      CI, // no scheme
      `Token ${CI}`, // unknown scheme
      `Digest ${CI}`,
      `Bearer${CI}`, // no space
      `Bearer ${CI} ${CI}`, // two credentials
      `Bearer\t${CI}`, // a tab is not the separator
      `Basic ${b64(CI)}`, // no colon
      `Basic ${b64(`${CI}:`)}`, // the token as username, empty password
      `Basic !${b64(`u:${CI}`)}`, // invalid base64
      `Basic ${b64(`u:${CI}`).replace(/=+$/, "")}x`, // invalid base64 length
      `Basic ${b64(`u:${CI}`)}=`, // too much padding
      `Basic ${Buffer.concat([Buffer.from("u:"), Buffer.from([0xff, 0xfe]), Buffer.from(CI)]).toString("base64")}`, // not UTF-8
    ];
    // "ab:" + 43 characters is 46 bytes: two padding characters, and the one before them carries
    // 4 unused bits that a canonical encoding leaves at zero.
    const padded = b64(`ab:${CI}`);
    assert.ok(padded.endsWith("=="));
    const last = padded.at(-3) ?? "";
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const nonCanonical = `${padded.slice(0, -3)}${alphabet[alphabet.indexOf(last) | 1]}==`;
    assert.equal(Buffer.from(nonCanonical, "base64").toString(), `ab:${CI}`, "Node would decode it");
    malformed.push(`Basic ${nonCanonical}`);
    assert.equal(auth.authenticate(`Basic ${padded}`)?.name, "ci-webshop", "the canonical one is accepted");
    assert.equal(auth.authenticate(undefined), undefined);
    for (const header of malformed)
      assert.equal(auth.authenticate(header), undefined, JSON.stringify(header));
    assert.equal(auth.authenticate(123 as unknown as string), undefined, "a non-string never throws");
  });

  it("returns a loggable principal that holds no grant and no hash", () => {
    const p = principalOf(auth, CI);
    assert.equal(JSON.stringify(p), JSON.stringify({ name: "ci-webshop", admin: false }));
    assert.equal(principalOf(auth, CI), p, "one principal per token");
    assert.ok(Object.isFrozen(p));
  });
});

describe("the admin token (STATEKEEPER_SERVER_TOKEN)", () => {
  it("is the principal 'admin', with admin on everything", () => {
    const auth = createAuthenticator({ adminToken: ADMIN });
    assert.equal(auth.open, false);
    const admin = principalOf(auth, ADMIN);
    assert.deepEqual({ ...admin }, { name: "admin", admin: true });
    assert.equal(auth.authenticate(basic("terraform", ADMIN)), admin);
    for (const scope of SCOPES)
      assert.equal(auth.allows(admin, scope, "any-factory", "any.stack"), true, scope);
    assert.equal(auth.authenticate(`Bearer ${OPS}`), undefined);
  });

  it("shorter than 16 characters, or empty, is refused without echoing it", () => {
    for (const short of ["", "0123456789abcde"]) {
      const e = refused(() => createAuthenticator({ adminToken: short }));
      assert.equal(e.message, "STATEKEEPER_SERVER_TOKEN must be at least 16 characters");
    }
    assert.equal(createAuthenticator({ adminToken: "0123456789abcdef" }).open, false, "16 is enough");
  });

  it("with spaces, a line break or non-ASCII characters is refused: no client could send it", () => {
    for (const bad of [`${ADMIN}\n`, `${ADMIN} x`, `${ADMIN}é`]) {
      const e = refused(
        () => createAuthenticator({ adminToken: bad }),
        "STATEKEEPER_SERVER_TOKEN must be printable ASCII",
      );
      assertNoSecret(e, ADMIN);
    }
  });

  it("combines with a tokens file", () => {
    const auth = createAuthenticator({ adminToken: ADMIN, tokensFile: exampleFile() });
    assert.equal(principalOf(auth, ADMIN).name, "admin");
    assert.equal(principalOf(auth, CI).name, "ci-webshop");
    assert.equal(principalOf(auth, OPS).name, "ops");
  });

  it("equal to a token of the file is refused, naming that token but neither the token nor its hash", () => {
    const file = tokensFile([
      { name: "ci", sha256: hashToken(CI), scopes: { "*/*": ["read"] } },
      { name: "copy", sha256: hashToken(ADMIN), scopes: { "*/*": ["read"] } },
    ]);
    const e = refused(
      () => createAuthenticator({ adminToken: ADMIN, tokensFile: file }),
      PATH,
      'tokens[1] ("copy") sha256',
      "is the hash of STATEKEEPER_SERVER_TOKEN",
    );
    assertNoSecret(e, ADMIN, hashToken(ADMIN));
  });
});

describe("allows: scopes per pattern", () => {
  const auth = createAuthenticator({ tokensFile: exampleFile() });
  const ci = principalOf(auth, CI);
  const ops = principalOf(auth, OPS);

  it("grants a token's scopes on the paths its patterns match, the union of all its patterns", () => {
    for (const scope of ["read", "write", "lock"] as const)
      assert.equal(auth.allows(ci, scope, "webshop", "prod"), true, scope);
    assert.equal(auth.allows(ci, "read", "shop", "prod"), true, "read everywhere from */*");
  });

  it("refuses what no pattern grants: write on another factory, admin on its own", () => {
    assert.equal(auth.allows(ci, "write", "shop", "prod"), false);
    assert.equal(auth.allows(ci, "lock", "shop", "prod"), false);
    assert.equal(auth.allows(ci, "admin", "webshop", "prod"), false);
    assert.equal(ci.admin, false);
  });

  it("admin implies read, write and lock", () => {
    assert.equal(ops.admin, true);
    for (const scope of SCOPES) assert.equal(auth.allows(ops, scope, "shop", "prod"), true, scope);
    const scoped = createAuthenticator({
      tokensFile: tokensFile([{ name: "p", sha256: hashToken(CI), scopes: { "webshop/prod": ["admin"] } }]),
    });
    const p = principalOf(scoped, CI);
    assert.equal(scoped.allows(p, "lock", "webshop", "prod"), true);
    assert.equal(scoped.allows(p, "write", "webshop", "prod"), true);
    assert.equal(scoped.allows(p, "lock", "webshop", "dev"), false);
    assert.equal(p.admin, false, "admin on one path is not admin on every path");
  });

  it("lock does not imply write, and write does not imply lock", () => {
    const a = createAuthenticator({
      tokensFile: tokensFile([
        { name: "locker", sha256: hashToken(CI), scopes: { "*/*": ["lock"] } },
        { name: "writer", sha256: hashToken(OPS), scopes: { "*/*": ["write"] } },
      ]),
    });
    assert.equal(a.allows(principalOf(a, CI), "write", "f", "s"), false);
    assert.equal(a.allows(principalOf(a, CI), "lock", "f", "s"), true);
    assert.equal(a.allows(principalOf(a, OPS), "lock", "f", "s"), false);
    assert.equal(a.allows(principalOf(a, OPS), "read", "f", "s"), false, "write does not imply read");
  });

  it("refuses a forged principal, one of another authenticator, an unknown scope and invalid names", () => {
    assert.equal(auth.allows({ name: "ops", admin: true }, "read", "shop", "prod"), false);
    const other = createAuthenticator({ tokensFile: exampleFile() });
    assert.equal(auth.allows(principalOf(other, OPS), "read", "shop", "prod"), false);
    assert.equal(auth.allows(ops, "delete" as Scope, "shop", "prod"), false);
    for (const [factory, stack] of [
      ["", "prod"],
      ["shop", ""],
      ["a//b", "prod"],
      ["/a", "prod"],
      ["a/", "prod"],
      ["a/..", "prod"],
      ["a~b", "prod"],
      ["..", "prod"],
      ["shop", "pr od"],
    ] as const)
      assert.equal(auth.allows(ops, "read", factory, stack), false, `${factory}/${stack}`);
  });
});

describe("glob patterns", () => {
  /** Whether a token granted read on `pattern` may read `factory`/`stack`. */
  function matches(pattern: string, factory: string, stack: string): boolean {
    const auth = createAuthenticator({
      tokensFile: tokensFile([{ name: "g", sha256: hashToken(CI), scopes: { [pattern]: ["read"] } }]),
    });
    return auth.allows(principalOf(auth, CI), "read", factory, stack);
  }

  const cases: [pattern: string, factory: string, stack: string, expected: boolean][] = [
    ["webshop/prod", "webshop", "prod", true],
    ["webshop/prod", "webshop", "prod2", false],
    ["webshop/prod", "webshop2", "prod", false],
    ["webshop/*", "webshop", "anything.at_all", true],
    ["webshop/*", "web", "prod", false],
    ["*/prod", "any", "prod", true],
    ["*/prod", "any", "production", false],
    ["web*/pr*", "webshop", "prod", true],
    ["web*/pr*", "web", "pr", true], // '*' also matches an empty run
    ["web*/pr*", "webshop", "dev", false],
    ["web*/pr*", "xwebshop", "prod", false],
    ["*shop/*", "webshop", "s", true],
    ["*shop/*", "shop", "s", true],
    ["*shop/*", "shops", "s", false],
    ["w*p/*", "webshop", "s", true],
    ["w*p/*", "webshops", "s", false],
    ["a*b*c/*", "aXbYc", "s", true],
    ["a*b*c/*", "abc", "s", true],
    ["a*b*c/*", "acb", "s", false],
    ["a*b/*", "abab", "s", true], // backtracks past the first 'b'
    ["Web*/*", "webshop", "s", false], // case-sensitive
    ["a.b/*", "aXb", "s", false], // '.' is literal
    ["a+b/*", "aab", "s", false], // '+' is literal
    ["*/*", "f", "s", true],
    // A factory with '/': the stack is after the pattern's last '/', and '*' matches across '/'.
    ["github.com/acme/webshop/prod", "github.com/acme/webshop", "prod", true],
    ["github.com/acme/webshop/prod", "github.com/acme/webshop", "dev", false],
    ["github.com/acme/webshop/prod", "github.com/acme", "webshop", false],
    ["github.com/acme/*/*", "github.com/acme/webshop", "prod", true],
    ["github.com/acme/*/*", "github.com/acme/a/b", "prod", true],
    ["github.com/acme/*/*", "github.com/acme", "prod", false],
    ["github.com/acme/*/*", "github.com/acmeX/webshop", "prod", false],
    ["github.com/*/webshop/*", "github.com/acme/webshop", "prod", true],
    ["*/*", "github.com/acme/webshop", "prod", true],
    ["*/prod", "github.com/acme/webshop", "prod", true],
    ["webshop/*", "github.com/acme/webshop", "prod", false],
    ["github.com/acme/webshop/*", "github.com~acme~webshop", "prod", false], // the key form is not a name
  ];
  for (const [pattern, factory, stack, expected] of cases)
    it(`${pattern} ${expected ? "matches" : "does not match"} ${factory}/${stack}`, () => {
      assert.equal(matches(pattern, factory, stack), expected);
    });

  it("a pathological glob answers at once (no backtracking blow-up)", () => {
    const pattern = `${"*a".repeat(40)}*b/*`;
    const started = performance.now();
    assert.equal(matches(pattern, "a".repeat(128), "s"), false);
    assert.equal(matches(pattern, `${"a".repeat(39)}b`, "s"), false, "needs 40 a's before the b");
    assert.equal(matches(pattern, `${"a".repeat(40)}b`, "s"), true);
    assert.ok(performance.now() - started < 2000, "well under a second in practice");
  });
});

describe("parseTokensFile", () => {
  it("parses the documented format into the same shape, frozen", () => {
    const text = JSON.stringify({
      tokens: [
        { name: "ci-webshop", sha256: hashToken(CI), scopes: { "webshop/*": ["read", "write", "lock"] } },
        { name: "ops@example.com", sha256: hashToken(OPS), scopes: { "*/*": ["admin"], "a=b/x": ["read"] } },
      ],
    });
    const file = parseTokensFile(PATH, text);
    assert.deepEqual(file, {
      path: PATH,
      tokens: [
        { name: "ci-webshop", sha256: hashToken(CI), scopes: { "webshop/*": ["read", "write", "lock"] } },
        { name: "ops@example.com", sha256: hashToken(OPS), scopes: { "*/*": ["admin"], "a=b/x": ["read"] } },
      ],
    });
    assert.ok(Object.isFrozen(file) && Object.isFrozen(file.tokens) && Object.isFrozen(file.tokens[0]));
    assert.deepEqual(parseTokensFile(PATH, `\uFEFF${text}`), file, "a leading BOM is ignored");
  });

  it("accepts an empty list: the server is then closed to everyone, not open", () => {
    const auth = createAuthenticator({ tokensFile: parseTokensFile(PATH, '{"tokens": []}') });
    assert.equal(auth.open, false);
    assert.equal(auth.authenticate(`Bearer ${CI}`), undefined);
    assert.equal(auth.authenticate(undefined), undefined);
  });

  const good = { name: "a", sha256: hashToken(CI), scopes: { "*/*": ["read"] } };
  /** A file whose second token (index 1, named "b" unless overridden) is `entry`. */
  const withSecond = (entry: Record<string, unknown>) =>
    JSON.stringify({
      tokens: [good, { name: "b", sha256: hashToken(OPS), scopes: { "*/*": ["read"] }, ...entry }],
    });
  const without = (field: string) => {
    const entry: Record<string, unknown> = { name: "b", sha256: hashToken(OPS), scopes: { "*/*": ["read"] } };
    delete entry[field];
    return JSON.stringify({ tokens: [good, entry] });
  };

  const refusals: [title: string, text: string, ...fragments: string[]][] = [
    ["not JSON", "{ tokens: [", "is not valid JSON"],
    ["not an object", "[]", 'must be a JSON object with a "tokens" array'],
    ["missing tokens", "{}", 'has no "tokens" array'],
    ["tokens not an array", '{"tokens": {}}', '"tokens" must be an array'],
    ["an unknown top-level field", '{"tokens": [], "users": []}', 'unknown field "users"'],
    ["a token that is not an object", '{"tokens": ["x"]}', "tokens[0] must be an object"],
    ["a missing name", without("name"), "tokens[1] name is missing"],
    ["a name with a space", withSecond({ name: "c d" }), "tokens[1] name must be 1 to 64 characters"],
    ["an empty name", withSecond({ name: "" }), "tokens[1] name must be 1 to 64 characters"],
    ["a name of 65 characters", withSecond({ name: "n".repeat(65) }), "tokens[1] name must be 1 to 64"],
    ["a name that is not a string", withSecond({ name: 7 }), "tokens[1] name must be"],
    ["a duplicate name", withSecond({ name: "a" }), 'tokens[1] ("a") name is already the name of tokens[0]'],
    ["the reserved name admin", withSecond({ name: "Admin" }), 'tokens[1] ("Admin") name is reserved'],
    ["the reserved name anonymous", withSecond({ name: "anonymous" }), "name is reserved (admin, anonymous)"],
    ["an unknown field", withSecond({ comment: "x" }), 'tokens[1] ("b") "comment" is not a known field'],
    ["a missing hash", without("sha256"), 'tokens[1] ("b") sha256 is missing'],
    [
      "an upper-case hash",
      withSecond({ sha256: hashToken(OPS).toUpperCase() }),
      'tokens[1] ("b") sha256 must be 64 lowercase hex',
    ],
    [
      "a short hash",
      withSecond({ sha256: hashToken(OPS).slice(1) }),
      "sha256 must be 64",
      "it has 63 characters",
    ],
    [
      "a hash that is not a string",
      withSecond({ sha256: 1 }),
      'tokens[1] ("b") sha256 must be 64 lowercase hex',
    ],
    [
      "a duplicate hash",
      withSecond({ sha256: hashToken(CI) }),
      `tokens[1] ("b") sha256 ${hashToken(CI).slice(0, 8)}… is also the hash of tokens[0] ("a")`,
    ],
    ["missing scopes", without("scopes"), 'tokens[1] ("b") scopes is missing'],
    ["scopes as a list", withSecond({ scopes: ["read"] }), 'tokens[1] ("b") scopes must be an object'],
    ["no pattern", withSecond({ scopes: {} }), 'tokens[1] ("b") scopes must grant at least one pattern'],
    [
      "the pattern a//c",
      withSecond({ scopes: { "a//c": ["read"] } }),
      'scopes["a//c"] is not a valid pattern',
      'has a segment "" that is empty',
    ],
    [
      "the pattern /a/c",
      withSecond({ scopes: { "/a/c": ["read"] } }),
      'scopes["/a/c"] is not a valid pattern',
      'has a segment "" that is empty',
    ],
    [
      "the pattern a/../c",
      withSecond({ scopes: { "a/../c": ["read"] } }),
      'scopes["a/../c"] is not a valid pattern',
      'has a segment ".."',
    ],
    [
      "the pattern a/b/",
      withSecond({ scopes: { "a/b/": ["read"] } }),
      'scopes["a/b/"] is not a valid pattern',
      'the stack side "" is empty',
    ],
    [
      "a pattern without '/'",
      withSecond({ scopes: { webshop: ["read"] } }),
      'scopes["webshop"] is not a valid pattern',
      "the stack after the last '/'",
    ],
    [
      "the pattern **/*",
      withSecond({ scopes: { "**/*": ["read"] } }),
      "the factory side \"**\" must not contain '**'",
    ],
    ["the pattern web**/*", withSecond({ scopes: { "web**/*": ["read"] } }), "must not contain '**'"],
    [
      "a '?' in a pattern",
      withSecond({ scopes: { "web?/*": ["read"] } }),
      'the factory side "web?" must start with',
      "'*' as wildcard",
    ],
    [
      "a '[' in a pattern",
      withSecond({ scopes: { "*/[ab]": ["read"] } }),
      'the stack side "[ab]" must start with',
    ],
    ["an empty side", withSecond({ scopes: { "/prod": ["read"] } }), 'the factory side "" is empty'],
    [
      "a side no name can match",
      withSecond({ scopes: { ".x/*": ["read"] } }),
      'the factory side ".x" must start with',
    ],
    ["a side with '..'", withSecond({ scopes: { "a..*/*": ["read"] } }), "must not contain '..'"],
    [
      "a side over 128 characters",
      withSecond({ scopes: { [`${"f".repeat(129)}/*`]: ["read"] } }),
      "at most 128 characters",
    ],
    [
      "an unknown scope",
      withSecond({ scopes: { "*/*": ["read", "delete"] } }),
      'scopes["*/*"] has an unknown scope "delete" (known: read, write, lock, admin)',
    ],
    ["a scope in another case", withSecond({ scopes: { "*/*": ["Read"] } }), 'has an unknown scope "Read"'],
    ["a scope that is not a string", withSecond({ scopes: { "*/*": [1] } }), "has an unknown scope 1"],
    [
      "an empty scope list",
      withSecond({ scopes: { "*/*": [] } }),
      'scopes["*/*"] must be a non-empty array of scopes',
    ],
    [
      "a scope that is not in a list",
      withSecond({ scopes: { "*/*": "read" } }),
      'scopes["*/*"] must be a non-empty array',
    ],
    [
      "a scope listed twice",
      withSecond({ scopes: { "*/*": ["read", "read"] } }),
      'scopes["*/*"] lists "read" twice',
    ],
  ];
  for (const [title, text, ...fragments] of refusals)
    it(`refuses ${title}, naming the file`, () => {
      const e = refused(() => parseTokensFile(PATH, text), `tokens file ${PATH}`, ...fragments);
      assert.equal(e.details.path, PATH);
    });

  it("names the token and the field in the error's details too", () => {
    const e = refused(() => parseTokensFile(PATH, withSecond({ scopes: { "a//c": ["read"] } })));
    assert.deepEqual({ ...e.details }, { path: PATH, index: 1, name: "b", field: 'scopes["a//c"]' });
  });

  it("never puts a token or a full hash in a message, whatever field it was pasted into", () => {
    const errors = [
      refused(() => parseTokensFile(PATH, withSecond({ sha256: hashToken(CI) }))), // duplicate hash
      refused(() => parseTokensFile(PATH, withSecond({ sha256: OPS }))), // the token instead of its hash
      refused(() => parseTokensFile(PATH, withSecond({ token: OPS }))), // a plaintext token field
      refused(() => parseTokensFile(PATH, withSecond({ sha256: hashToken(OPS).toUpperCase() }))),
      refused(() => parseTokensFile(PATH, `{"tokens": [{"name": "x", "sha256": "${OPS}"`)), // not JSON
      refused(() => parseTokensFile(PATH, `{"tokens": [{"name": "x", "sha256": "${hashToken(OPS)}" ]}`)),
    ];
    for (const e of errors) {
      assertNoSecret(e, OPS, hashToken(CI), hashToken(OPS), hashToken(OPS).toUpperCase());
      assert.equal(e.cause, undefined, "no cause that could quote the text");
    }
  });

  it("createAuthenticator validates a hand-built TokensFile the same way", () => {
    const handBuilt = {
      path: PATH,
      tokens: [{ name: "x", sha256: "abc", scopes: { "*/*": ["read"] } }],
    } as unknown as TokensFile;
    refused(
      () => createAuthenticator({ tokensFile: handBuilt }),
      'tokens[0] ("x") sha256 must be 64 lowercase hex',
    );
  });
});

describe("loadTokensFile", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "statekeeper-auth-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("reads and validates a file", async () => {
    const path = join(dir, "tokens.json");
    await writeFile(
      path,
      JSON.stringify({ tokens: [{ name: "ops", sha256: hashToken(OPS), scopes: { "*/*": ["admin"] } }] }),
    );
    const file = await loadTokensFile(path);
    assert.equal(file.path, path);
    assert.equal(principalOf(createAuthenticator({ tokensFile: file }), OPS).name, "ops");
  });

  it("refuses a missing file and an invalid one, naming the path", async () => {
    const missing = join(dir, "missing.json");
    const e = await rejectsWithCode(loadTokensFile(missing), "E_INVALID_CONFIG");
    assert.equal(e.message, `tokens file ${missing} does not exist`);
    const invalid = join(dir, "invalid.json");
    await writeFile(invalid, '{"tokens": [{}]}');
    const e2 = await rejectsWithCode(loadTokensFile(invalid), "E_INVALID_CONFIG");
    assert.match(e2.message, /tokens\[0\] name is missing/);
    assert.ok(e2.message.includes(invalid));
    const e3 = await rejectsWithCode(loadTokensFile(dir), "E_INVALID_CONFIG");
    assert.ok(e3.message.includes(`tokens file ${dir} cannot be read`), e3.message);
  });
});

describe("open", () => {
  it("is true with no token at all: every request is 'anonymous' with admin on everything", () => {
    for (const auth of [
      createAuthenticator(),
      createAuthenticator({}),
      createAuthenticator({ adminToken: undefined }),
    ]) {
      assert.equal(auth.open, true);
      for (const header of [undefined, "", "Bearer whatever", basic("u", "p")]) {
        const p = auth.authenticate(header);
        assert.deepEqual(p && { ...p }, { name: "anonymous", admin: true });
        if (p) for (const scope of SCOPES) assert.equal(auth.allows(p, scope, "webshop", "prod"), true);
      }
    }
  });

  it("is false with an admin token, a tokens file, or both; then a request without credentials is refused", () => {
    for (const auth of [
      createAuthenticator({ adminToken: ADMIN }),
      createAuthenticator({ tokensFile: exampleFile() }),
      createAuthenticator({ adminToken: ADMIN, tokensFile: exampleFile() }),
    ]) {
      assert.equal(auth.open, false);
      assert.equal(auth.authenticate(undefined), undefined);
      assert.equal(auth.authenticate("Bearer whatever-token-at-all"), undefined);
    }
  });
});
