// A factory named like a Go module path (github.com/acme/webshop) through `statekeeper serve`:
// Terraform addresses it with the name percent-encoded in one segment or in its key form
// (github.com~acme~webshop), token patterns scope it, the web view lists it and links to it, and
// hostile spellings are 4xx before any I/O. Real binary, real HTTP, file store.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { pathToFileURL } from "node:url";
import { hashToken } from "../../src/server/auth.js";
import { ensureBuilt, sk, tempDir } from "../cli/helpers.js";
import { type RunningServer, startServer } from "./support.js";
import { lockInfo, rawRequest, TfClient, tfState } from "./tf-client.js";

const ADMIN_TOKEN = "admin-token-for-the-factory-path-tests";
const ACME_TOKEN = "acme-token-for-the-factory-path-tests";
const KEY = Buffer.alloc(32, 5).toString("base64");
const MODULE = "github.com/acme/webshop";
const ENCODED = "github.com%2Facme%2Fwebshop";
const KEY_FORM = "github.com~acme~webshop";

describe("statekeeper serve: a factory with '/'", () => {
  let server: RunningServer;
  const cwd = tempDir("serve-factory-path");
  const root = join(cwd, "state");
  const store = pathToFileURL(root).href;
  const tf = (factorySegment: string, password = ACME_TOKEN) =>
    new TfClient({ address: `${server.url}/tf/${factorySegment}/prod`, username: "terraform", password });
  const get = (path: string, token = ADMIN_TOKEN) =>
    rawRequest("GET", `${server.url}${path}`, undefined, { headers: { authorization: `Bearer ${token}` } });

  before(async () => {
    await ensureBuilt();
    const tokens = join(cwd, "tokens.json");
    writeFileSync(
      tokens,
      JSON.stringify({
        tokens: [
          {
            name: "acme",
            sha256: hashToken(ACME_TOKEN),
            scopes: { "github.com/acme/*/*": ["read", "write", "lock"] },
          },
        ],
      }),
    );
    server = await startServer({
      store,
      cwd,
      env: { STATEKEEPER_SERVER_TOKEN: ADMIN_TOKEN, STATEKEEPER_KEY: KEY },
      args: ["--tokens-file", tokens],
    });
  });
  after(async () => {
    if (server !== undefined) assert.equal(await server.stop(), 0, "the server stops cleanly on SIGTERM");
  });

  test("Terraform LOCKs, PUTs and GETs it percent-encoded or in key form: one stack, stored under the key form", async () => {
    const lineage = randomUUID();
    const a = tf(ENCODED);
    assert.equal((await a.lock(lockInfo("OperationTypeApply"))).status, 200);
    const s1 = tfState({ lineage, serial: 1, tag: "v1" });
    assert.equal((await a.put(s1)).status, 200);
    // The same stack in key form: locked by the first client.
    const b = tf(KEY_FORM);
    const held = await b.lock(lockInfo("OperationTypeApply", "bob@ci"));
    assert.ok(held.status === 423 || held.status === 409, `status ${held.status}`);
    assert.equal(JSON.parse(held.text).Who, "alice@laptop");
    assert.equal((await a.unlock()).status, 200);
    assert.equal((await b.get()).text, s1, "the key form reads what the percent form wrote");
    assert.equal((await b.lock(lockInfo("OperationTypeApply", "bob@ci"))).status, 200);
    const s2 = tfState({ lineage, serial: 2, tag: "v2" });
    assert.equal((await b.put(s2)).status, 200);
    assert.equal((await b.unlock()).status, 200);
    assert.equal((await a.get()).text, s2);

    assert.ok(existsSync(join(root, KEY_FORM, "prod", "head")), "stored under the key form (a log's hint)");
    assert.ok(!existsSync(join(root, "github.com")), "not as nested folders");
    const h = await sk(["--store", store, "--factory", MODULE, "--stack", "prod", "history", "--json"], {
      cwd,
      env: { STATEKEEPER_KEY: KEY },
    });
    assert.equal(h.code, 0, h.stderr);
    assert.equal(JSON.parse(h.stdout).revisions.length, 2);
  });

  test("token patterns split at the last '/': github.com/acme/*/* grants this factory, not others", async () => {
    assert.equal((await tf(ENCODED).get()).status, 200);
    assert.equal((await tf("webshop").get()).status, 403);
    assert.equal(
      (await tf("github.com%2Facme").get()).status,
      403,
      "github.com/acme is not under github.com/acme/",
    );
    assert.equal((await tf("github.com%2Facmex%2Fwebshop").get()).status, 403);
    assert.equal((await tf(ENCODED, "wrong-token").get()).status, 401);
  });

  test("hostile or malformed factory segments are 400 (or 404 for no route), never a stack", async () => {
    for (const segment of [
      "..%2Fetc",
      "github.com%2F%2Facme",
      "%2Fgithub.com",
      "github.com%2F",
      "github.com~~acme",
      "~acme",
      "github.com%2Facme~webshop",
      "github.com%2F..%2Fwebshop",
      "%ZZ",
      "github.com%252Facme",
    ]) {
      const r = await tf(segment, ADMIN_TOKEN).get();
      assert.equal(r.status, 400, `${segment}: ${r.status} ${r.text}`);
    }
    // Raw '/' is the path's own separator: not this stack.
    assert.equal((await tf(MODULE, ADMIN_TOKEN).get()).status, 404);
    for (const path of [
      "/ui/stacks/..~etc/prod",
      "/ui/stacks/github.com%2F%2Facme/prod",
      "/ui/stacks/%ZZ/prod",
    ])
      assert.equal((await get(path)).status, 400, path);
  });

  test("the web view lists it by name and its links round-trip", async () => {
    const index = await get("/ui/");
    assert.equal(index.status, 200);
    assert.ok(index.text.includes(`href="/ui/stacks/${KEY_FORM}/prod"`), "the link uses the key form");
    assert.ok(index.text.includes(`${MODULE}/prod`), "listed under its name");
    for (const path of [`/ui/stacks/${KEY_FORM}/prod`, `/ui/stacks/${ENCODED}/prod`]) {
      const page = await get(path, ACME_TOKEN);
      assert.equal(page.status, 200, `${path}: ${page.text.slice(0, 200)}`);
      assert.ok(page.text.includes(`<h1>${MODULE}/prod</h1>`), path);
      assert.ok(
        page.text.includes(`action="/ui/stacks/${KEY_FORM}/prod/diff"`),
        `${path}: the diff form in key form`,
      );
    }
    const stackPage = (await get(`/ui/stacks/${KEY_FORM}/prod`, ACME_TOKEN)).text;
    const revs = [...stackPage.matchAll(/name="from" value="([^"]+)"/g)].map((m) => m[1] as string);
    assert.equal(revs.length, 2, "both revisions are listed");
    const diff = await get(`/ui/stacks/${KEY_FORM}/prod/diff?from=${revs[1]}&to=${revs[0]}`, ACME_TOKEN);
    assert.equal(diff.status, 200, diff.text.slice(0, 300));
    assert.ok(
      diff.text.includes(`<a href="/ui/stacks/${KEY_FORM}/prod">${MODULE}/prod</a>`),
      "the diff links back",
    );
  });
});
