// The web view of `statekeeper serve` (/ui/), driven in a real browser: Debian's chromium
// through playwright-core, against the real binary on a file store. A missing chromium fails
// these tests (`.ci/run` installs it). Screenshots of every page go to test-artifacts/ui/.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { accessSync, constants, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { delimiter, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { createBackend } from "../../src/backend/index.js";
import { keyEncrypter } from "../../src/crypto/index.js";
import { fileStore } from "../../src/objectstore/file.js";
import { createAuthenticator, hashToken } from "../../src/server/auth.js";
import { createStateServer, type StateServer, type StateServerOptions } from "../../src/server/server.js";
import { decodeSnapshot, type Snapshot } from "../../src/snapshot/index.js";
import { ensureBuilt, ROOT, sk, tempDir, V1, V2 } from "../cli/helpers.js";
import { type RunningServer, startServer } from "./support.js";
import { lockInfo, TfClient, tfState } from "./tf-client.js";

const ADMIN_TOKEN = "admin-token-for-the-web-view-tests";
const READER_TOKEN = "reader-token-for-the-web-view-tests";
const WEBSHOP_TOKEN = "webshop-only-token-for-the-web-view-tests";
const KEY = Buffer.alloc(32, 9).toString("base64");
const SECRET_1 = "hunter2-first-secret-value";
const SECRET_2 = "hunter3-second-secret-value";
const HOSTILE = "<script>window.__pwned=1</script>";
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const ARTIFACTS = join(ROOT, "test-artifacts", "ui");

/** The chromium on PATH (Debian names it chromium; Ubuntu's older package chromium-browser). */
function findChromium(): string {
  for (const dir of (process.env.PATH ?? "").split(delimiter))
    for (const name of ["chromium", "chromium-browser"]) {
      const p = join(dir, name);
      try {
        accessSync(p, constants.X_OK);
        return p;
      } catch {}
    }
  throw new Error(
    "chromium is not on PATH: the web view's browser tests need it (apt-get install -y --no-install-recommends chromium; .ci/run does)",
  );
}

describe("statekeeper serve: the web view in chromium", () => {
  let server: RunningServer;
  let browser: Browser;
  let store: string;
  const cwd = tempDir("ui");
  const contexts: BrowserContext[] = [];
  /** Every document response seen by any page: its URL and headers. */
  const documents: Array<{ url: string; headers: Record<string, string> }> = [];
  const revs: Record<string, string[]> = {};

  const cli = (factory: string, stack: string, ...args: string[]) =>
    sk(["--store", store, "--factory", factory, "--stack", stack, ...args], {
      cwd,
      env: { STATEKEEPER_KEY: KEY },
    });
  const history = async (factory: string, stack: string): Promise<string[]> => {
    const r = await cli(factory, stack, "history", "--json");
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { revisions: Array<{ rev: string }> }).revisions.map((x) => x.rev);
  };
  const tf = (factory: string, stack: string) =>
    new TfClient({
      address: `${server.url}/tf/${factory}/${stack}`,
      username: "terraform",
      password: ADMIN_TOKEN,
    });

  /** A fresh browser session, closed at the end; generous timeouts: the machine may be loaded. */
  async function newContext(
    options: { viewport?: { width: number; height: number }; colorScheme?: "dark" | "light" } = {},
  ): Promise<BrowserContext> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
    context.setDefaultTimeout(60_000);
    context.setDefaultNavigationTimeout(60_000);
    contexts.push(context);
    return context;
  }

  /** A fresh browser session at a laptop (or phone) viewport, logged in with `token` through the form. */
  async function loggedIn(token: string, viewport = { width: 1280, height: 800 }): Promise<Page> {
    const context = await newContext({ viewport });
    const page = await context.newPage();
    page.on("response", (r) => {
      if (r.request().resourceType() === "document") documents.push({ url: r.url(), headers: r.headers() });
    });
    await page.goto(`${server.url}/ui/`);
    assert.match(page.url(), /\/ui\/login$/, "without a cookie, a page redirects to the login page");
    await page.fill("#token", token);
    await Promise.all([page.waitForURL(`${server.url}/ui/`), page.click("button[type=submit]")]);
    return page;
  }
  const shot = (page: Page, name: string) =>
    page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

  before(async () => {
    const executablePath = findChromium();
    await ensureBuilt();
    mkdirSync(ARTIFACTS, { recursive: true });
    store = pathToFileURL(join(tempDir("ui-store"), "state")).href;
    const tokens = join(cwd, "tokens.json");
    writeFileSync(
      tokens,
      JSON.stringify({
        tokens: [
          { name: "viewer", sha256: hashToken(READER_TOKEN), scopes: { "*/*": ["read"] } },
          { name: "webshop-viewer", sha256: hashToken(WEBSHOP_TOKEN), scopes: { "webshop/*": ["read"] } },
        ],
      }),
    );
    server = await startServer({
      store,
      cwd,
      env: { STATEKEEPER_SERVER_TOKEN: ADMIN_TOKEN, STATEKEEPER_KEY: KEY },
      args: ["--tokens-file", tokens],
    });

    // Two Terraform states: infra/network (two revisions, a sensitive attribute that changes)
    // and infra/dns (one revision, then held by a client's lock).
    const lineage = randomUUID();
    const network = tf("infra", "network");
    assert.equal(
      (await network.put(tfState({ lineage, serial: 1, tag: "v1", sensitive: SECRET_1 }))).status,
      200,
    );
    assert.equal(
      (await network.put(tfState({ lineage, serial: 2, tag: "v2", sensitive: SECRET_2 }))).status,
      200,
    );
    const dns = tf("infra", "dns");
    assert.equal((await dns.put(tfState({ lineage: randomUUID(), serial: 1, resources: 1 }))).status, 200);
    assert.equal((await dns.lock(lockInfo("OperationTypeApply", "bob@ci-runner"))).status, 200);

    // infra/many: 55 revisions, two pages of history.
    const many = tf("infra", "many");
    const manyLineage = randomUUID();
    for (let serial = 1; serial <= 55; serial++)
      assert.equal(
        (await many.put(tfState({ lineage: manyLineage, serial, tag: `v${serial}` }))).status,
        200,
      );

    // A snapshot stack pushed by the CLI whose first revision has a hostile entry address.
    const v1 = JSON.parse(readFileSync(V1, "utf8")) as { entries: Array<{ address: string }> };
    (v1.entries[2] as { address: string }).address = HOSTILE;
    const hostileFile = join(cwd, "hostile.json");
    writeFileSync(hostileFile, JSON.stringify(v1));
    for (const file of [hostileFile, V2]) {
      const r = await cli("webshop", "prod", "push", file);
      assert.equal(r.code, 0, r.stderr);
    }
    revs.network = await history("infra", "network");
    revs.webshop = await history("webshop", "prod");
    assert.equal(revs.network.length, 2);
    assert.equal(revs.webshop.length, 2);

    browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
  });

  after(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    if (server !== undefined) assert.equal(await server.stop(), 0, "the server stops cleanly on SIGTERM");
  });

  test("login: a wrong token is refused (401) with the form again; the right one sets an HttpOnly SameSite=Strict cookie", async () => {
    const context = await newContext();
    const page = await context.newPage();
    await page.goto(`${server.url}/ui/login`);
    await shot(page, "login");
    await page.fill("#token", "not-a-valid-token-at-all");
    const [refused] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith("/ui/login") && r.request().method() === "POST"),
      page.click("button[type=submit]"),
    ]);
    assert.equal(refused.status(), 401);
    await page.waitForSelector("[role=alert]");
    assert.match((await page.textContent("[role=alert]")) ?? "", /not valid/);
    assert.equal((await context.cookies()).length, 0, "no cookie for a wrong token");

    await page.fill("#token", ADMIN_TOKEN);
    await Promise.all([page.waitForURL(`${server.url}/ui/`), page.click("button[type=submit]")]);
    const [cookie] = await context.cookies();
    assert.ok(cookie !== undefined, "a cookie is set");
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, "Strict");
    assert.equal(cookie.path, "/ui");
    assert.equal(
      await page.evaluate(() => (globalThis as unknown as { document: { cookie: string } }).document.cookie),
      "",
      "scripts cannot read the cookie",
    );

    await Promise.all([page.waitForURL(`${server.url}/ui/login`), page.click("header form button")]);
    await page.goto(`${server.url}/ui/`);
    assert.match(page.url(), /\/ui\/login$/, "after logging out, pages redirect to the login page again");
  });

  test("stacks page: Terraform states and snapshot stacks with revision, size, entries and lock holder; filter and sort", async () => {
    const page = await loggedIn(ADMIN_TOKEN);
    const rows = await page.$$eval("#stacks tbody tr", (trs) =>
      trs.map((tr) =>
        Array.from(tr.querySelectorAll("td"), (td: { textContent: string | null }) =>
          (td.textContent ?? "").trim(),
        ),
      ),
    );
    assert.deepEqual(
      rows.map((r) => r[0]),
      ["infra/dns", "infra/many", "infra/network", "webshop/prod"],
      "every stack, sorted by name",
    );
    const network = rows.find((r) => r[0] === "infra/network") as string[];
    assert.equal(network[1], revs.network?.[1], "the current revision");
    assert.equal(network[4], "2", "the resource count of the current state");
    assert.match(network[5] as string, /free/);
    const webshop = rows.find((r) => r[0] === "webshop/prod") as string[];
    assert.equal(webshop[4], "3", "the entry count of the current snapshot");
    const dns = rows.find((r) => r[0] === "infra/dns") as string[];
    assert.match(dns[5] as string, /locked by .*OperationTypeApply/, "the lock holder and operation");
    await shot(page, "stacks");

    // Without JavaScript's help: ?q= filters on the server; ?sort=entries orders by entry count.
    await page.goto(`${server.url}/ui/?q=infra&sort=entries`);
    const filtered = await page.$$eval("#stacks tbody tr td:first-child", (tds) =>
      tds.map((td: { textContent: string | null }) => (td.textContent ?? "").trim()),
    );
    assert.deepEqual(
      filtered,
      ["infra/many", "infra/network", "infra/dns"],
      "filtered to infra, most entries first (then by name)",
    );
    // With it: typing in the box hides rows at once.
    await page.goto(`${server.url}/ui/`);
    await page.fill("#filter", "webshop");
    assert.equal(await page.locator("#stacks tbody tr:visible").count(), 1);
    assert.equal((await page.textContent("#shown"))?.trim(), "1");

    // A phone-sized viewport: the same table, readable.
    const phone = await loggedIn(ADMIN_TOKEN, { width: 390, height: 844 });
    assert.equal(await phone.locator("#stacks tbody tr").count(), 4);
    await shot(phone, "stacks-phone");

    // Dark mode follows the system setting.
    const darkContext = await newContext({ colorScheme: "dark" });
    const dark = await darkContext.newPage();
    await dark.goto(`${server.url}/ui/login`);
    const background = (p: Page) =>
      p.evaluate(() => {
        const g = globalThis as unknown as {
          getComputedStyle(e: unknown): { backgroundColor: string };
          document: { body: unknown };
        };
        return g.getComputedStyle(g.document.body).backgroundColor;
      });
    assert.equal(
      await background(dark),
      "rgb(13, 17, 23)",
      "a dark background under prefers-color-scheme: dark",
    );
    assert.equal(await background(page), "rgb(255, 255, 255)", "a light one otherwise");
    await shot(dark, "login-dark");
  });

  test("stack page and diff: revisions newest first; diffing two shows the changed field; a sensitive value reads (sensitive) and the secret is in no page", async () => {
    const page = await loggedIn(ADMIN_TOKEN);
    await page.click("text=infra/network");
    await page.waitForURL(`${server.url}/ui/stacks/infra/network`);
    const shown = await page.$$eval("#revisions tbody tr td:nth-child(3)", (tds) =>
      tds.map((td) => (td.textContent ?? "").trim().split(" ")[0]),
    );
    assert.deepEqual(shown, [...(revs.network ?? [])].reverse(), "newest first");
    const authors = await page.$$eval("#revisions tbody tr td.author", (tds) =>
      tds.map((td) => (td.textContent ?? "").trim()),
    );
    // Each revision records who committed it (here the server process, for the Terraform client).
    assert.equal(authors.length, 2);
    for (const a of authors) assert.match(a, /^[^@\s]+@\S+$/, "each revision names its committer");
    await shot(page, "stack");
    const html1 = await page.content();

    await page.check(`input[name=from][value="${revs.network?.[0]}"]`);
    await page.check(`input[name=to][value="${revs.network?.[1]}"]`);
    await Promise.all([page.waitForURL(/\/diff\?/), page.click("text=Diff selected")]);
    const summary = await page.textContent("#summary");
    assert.match(summary ?? "", /0 added, 0 removed, 2 changed/);
    const changes = await page.$$eval(".entry tr", (trs) =>
      trs.map((tr) =>
        Array.from(tr.querySelectorAll("td"), (td: { textContent: string | null }) =>
          (td.textContent ?? "").trim(),
        ),
      ),
    );
    assert.ok(
      changes.some((c) => /triggers\.tag$/.test(c[0] ?? "") && c[1] === "v1" && c[2] === "v2"),
      `the changed field triggers.tag v1 → v2 is shown: ${JSON.stringify(changes)}`,
    );
    assert.ok(
      changes.some((c) => /password$/.test(c[0] ?? "") && c[1] === "(sensitive)" && c[2] === "(sensitive)"),
      "a changed sensitive attribute reads (sensitive) on both sides",
    );
    await shot(page, "diff");
    const html2 = await page.content();

    await Promise.all([page.waitForURL(/\/entry\?/), page.click(".entry h3 a >> nth=0")]);
    const entry = JSON.parse((await page.textContent("#entry")) ?? "{}") as {
      outputs?: Record<string, unknown>;
    };
    assert.equal(entry.outputs?.password, "(sensitive)", "the entry's full content, masked");
    await shot(page, "entry");
    const html3 = await page.content();

    for (const h of [html1, html2, html3]) {
      assert.ok(!h.includes(SECRET_1), "the first secret is in no page");
      assert.ok(!h.includes(SECRET_2), "the second secret is in no page");
    }
  });

  test("a long history is paged: 50 revisions per page, newest first, with links between pages", async () => {
    const page = await loggedIn(ADMIN_TOKEN);
    const all = await history("infra", "many");
    assert.equal(all.length, 55);
    await page.goto(`${server.url}/ui/stacks/infra/many`);
    const revOf = (p: Page) =>
      p.$$eval("#revisions tbody tr td:nth-child(3)", (tds) =>
        tds.map((td: { textContent: string | null }) => (td.textContent ?? "").trim().split(" ")[0]),
      );
    const first = await revOf(page);
    assert.equal(first.length, 50);
    assert.deepEqual(first, all.slice(5).reverse(), "the newest 50 first");
    await Promise.all([page.waitForURL(/\?page=2$/), page.click("text=Older → >> nth=0")]);
    assert.deepEqual(await revOf(page), all.slice(0, 5).reverse(), "then the oldest 5");
    assert.equal(await page.locator("text=Older →").count(), 0, "no page after the last");
  });

  test("a hostile entry address renders as text and runs no script", async () => {
    const page = await loggedIn(ADMIN_TOKEN);
    const [old, cur] = revs.webshop as [string, string];
    await page.goto(
      `${server.url}/ui/stacks/webshop/prod/diff?from=${encodeURIComponent(old)}&to=${encodeURIComponent(cur)}`,
    );
    assert.ok(
      (await page.locator(".entry h3").allTextContents()).some((t) => t.includes(HOSTILE)),
      "the address is shown as text among the removed entries",
    );
    await page.goto(
      `${server.url}/ui/stacks/webshop/prod/revs/${encodeURIComponent(old)}/entry?address=${encodeURIComponent(HOSTILE)}`,
    );
    assert.equal((await page.textContent("h1"))?.trim(), HOSTILE, "the heading is the address, as text");
    assert.equal(await page.locator("main script").count(), 0, "no script element came from the state");
    assert.equal(
      await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned),
      undefined,
    );
    await shot(page, "hostile-entry");
  });

  test("force-unlock: a confirmation names the holder; confirming removes the lock (access log: admin)", async () => {
    const page = await loggedIn(ADMIN_TOKEN);
    await page.goto(`${server.url}/ui/stacks/infra/dns`);
    assert.match((await page.textContent("#lock")) ?? "", /Locked.*OperationTypeApply/s);
    await Promise.all([page.waitForURL(/\/force-unlock$/), page.click("text=Force-unlock…")]);
    const consequence = (await page.textContent("#consequence")) ?? "";
    assert.match(consequence, /This removes the lock held by .* since /s);
    assert.match(consequence, /bob@ci-runner/, "the Terraform client that holds it");
    await shot(page, "force-unlock");
    let status = JSON.parse((await cli("infra", "dns", "lock", "status", "--json")).stdout);
    assert.equal(status.locked, true, "nothing happens before confirming");

    await Promise.all([
      page.waitForURL(/\/ui\/stacks\/infra\/dns\?done=force-unlock$/),
      page.click("text=Remove the lock"),
    ]);
    assert.match((await page.textContent("[role=status]")) ?? "", /lock was removed/);
    status = JSON.parse((await cli("infra", "dns", "lock", "status", "--json")).stdout);
    assert.equal(status.locked, false, "the lock is gone (lock status)");
    const log = await server.accessLogWhen((lines) =>
      lines.some((l) => l.method === "POST" && l.path === "/ui/stacks/infra/dns/force-unlock"),
    );
    const line = log.find((l) => l.method === "POST" && l.path === "/ui/stacks/infra/dns/force-unlock");
    assert.equal(line?.principal, "admin", "the access log names who removed it");
    assert.equal(line?.status, 303);
  });

  test("force-unlock of a lock that changed hands since the confirmation page is refused (409) and the new lock stays", async () => {
    const client = tf("infra", "handover");
    assert.equal((await client.put(tfState({ lineage: randomUUID(), serial: 1 }))).status, 200);
    assert.equal((await client.lock(lockInfo("OperationTypeApply", "carol@ci"))).status, 200);
    const page = await loggedIn(ADMIN_TOKEN);
    await page.goto(`${server.url}/ui/stacks/infra/handover/force-unlock`);
    assert.match((await page.textContent("#consequence")) ?? "", /carol@ci/);
    // Meanwhile carol's run ends and dave's begins.
    assert.equal((await client.unlock()).status, 200);
    assert.equal((await client.lock(lockInfo("OperationTypeApply", "dave@ci"))).status, 200);
    const [refused] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith("/force-unlock") && r.request().method() === "POST"),
      page.click("text=Remove the lock"),
    ]);
    assert.equal(refused.status(), 409);
    assert.match((await page.textContent("main")) ?? "", /changed hands since the confirmation page/);
    await shot(page, "force-unlock-refused");
    await page.goto(`${server.url}/ui/stacks/infra/handover`);
    assert.match((await page.textContent("#lock")) ?? "", /Locked.*dave@ci/s, "dave's lock is untouched");
    assert.equal((await client.unlock()).status, 200);
  });

  test("rollback: a confirmation says a NEW revision is committed; confirming adds one with the old content", async () => {
    const page = await loggedIn(ADMIN_TOKEN);
    const [old] = revs.webshop as [string, string];
    await page.goto(`${server.url}/ui/stacks/webshop/prod`);
    await Promise.all([page.waitForURL(/\/rollback\?rev=/), page.click("text=Roll back to this…")]);
    assert.match(
      (await page.textContent("#consequence")) ?? "",
      /commits a NEW revision with the content of .*history is kept/s,
    );
    await shot(page, "rollback");
    assert.equal((await history("webshop", "prod")).length, 2, "nothing happens before confirming");
    await Promise.all([page.waitForURL(/\?done=rollback$/), page.click("text=Commit the rollback")]);
    const after = await history("webshop", "prod");
    assert.equal(after.length, 3, "a new revision; none rewritten");
    const diff = await cli("webshop", "prod", "diff", old, "current", "--json");
    assert.equal(JSON.parse(diff.stdout).changed, false, "the new revision has the old content");
  });

  test("read-only token: no admin buttons; the action URLs answer 403, also to a POST", async () => {
    const page = await loggedIn(READER_TOKEN);
    assert.equal(
      await page.locator("#stacks tbody tr").count(),
      5,
      "a reader sees every stack it may read (the setup's four and infra/handover)",
    );
    await page.goto(`${server.url}/ui/stacks/webshop/prod`);
    assert.equal(await page.locator("text=Roll back to this…").count(), 0);
    assert.equal(await page.locator("text=Force-unlock…").count(), 0);
    const forbidden = await page.goto(`${server.url}/ui/stacks/infra/dns/force-unlock`);
    assert.equal(forbidden?.status(), 403);
    assert.match((await page.textContent("main")) ?? "", /needs the admin scope/);
    await shot(page, "forbidden");
    // From this server's own origin, so only the scope can refuse it. (Not from the page: its
    // CSP allows no fetch at all.)
    const post = (
      await fetch(`${server.url}/ui/stacks/webshop/prod/rollback`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${READER_TOKEN}`,
          origin: server.url,
          "content-type": "application/x-www-form-urlencoded",
        },
        body: `rev=${encodeURIComponent(revs.webshop?.[0] ?? "")}`,
        redirect: "manual",
      })
    ).status;
    assert.equal(post, 403, "the POST is refused too");
  });

  test("CSRF: a POST whose Origin is another site is refused (403) even with a valid session", async () => {
    const res = await fetch(`${server.url}/ui/stacks/webshop/prod/rollback`, {
      method: "POST",
      headers: {
        cookie: `statekeeper_ui=${encodeURIComponent(ADMIN_TOKEN)}`,
        origin: "http://evil.example",
        "content-type": "application/x-www-form-urlencoded",
      },
      body: `rev=${encodeURIComponent(revs.webshop?.[0] ?? "")}`,
      redirect: "manual",
    });
    assert.equal(res.status, 403);
    assert.equal(res.headers.get("content-security-policy"), CSP);
    const none = await fetch(`${server.url}/ui/stacks/webshop/prod/rollback`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${ADMIN_TOKEN}`,
        "content-type": "application/x-www-form-urlencoded",
      },
      body: "rev=x",
      redirect: "manual",
    });
    assert.equal(none.status, 403, "no Origin and no Referer: refused");
    assert.equal((await history("webshop", "prod")).length, 3, "nothing was committed");
  });

  test("without a browser: the Authorization header works, a token lists only what it may read, no credentials redirect or 401, a locked stack refuses a rollback (423)", async () => {
    const get = (path: string, headers: Record<string, string> = {}) =>
      fetch(`${server.url}${path}`, { headers, redirect: "manual" });
    const listed = await (await get("/ui/", { authorization: `Bearer ${WEBSHOP_TOKEN}` })).text();
    assert.ok(listed.includes("webshop/prod"), "the stack it may read is listed");
    assert.ok(!listed.includes("infra/network"), "a stack it may not read is not listed");
    const refused = await get("/ui/stacks/infra/network", { authorization: `Bearer ${WEBSHOP_TOKEN}` });
    assert.equal(refused.status, 403);

    const anonymous = await get("/ui/stacks/webshop/prod");
    assert.equal(anonymous.status, 303);
    assert.equal(anonymous.headers.get("location"), "/ui/login");
    const wrong = await get("/ui/", { cookie: "statekeeper_ui=not-a-token" });
    assert.equal(wrong.status, 303, "an invalid cookie is no session");
    const post = await fetch(`${server.url}/ui/stacks/webshop/prod/rollback`, {
      method: "POST",
      headers: { origin: server.url, "content-type": "application/x-www-form-urlencoded" },
      body: "rev=x",
      redirect: "manual",
    });
    assert.equal(post.status, 401, "a POST without credentials");

    const holder = tf("infra", "network");
    assert.equal((await holder.lock(lockInfo("OperationTypeApply", "carol@laptop"))).status, 200);
    try {
      const rollback = await fetch(`${server.url}/ui/stacks/infra/network/rollback`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${ADMIN_TOKEN}`,
          origin: server.url,
          "content-type": "application/x-www-form-urlencoded",
        },
        body: `rev=${encodeURIComponent(revs.network?.[0] ?? "")}`,
        redirect: "manual",
      });
      assert.equal(rollback.status, 423, "the stack lock is held: the rollback does not wait or break it");
      assert.match(await rollback.text(), /carol@laptop|locked/);
      assert.equal((await history("infra", "network")).length, 2, "nothing was committed");
    } finally {
      assert.equal((await holder.unlock()).status, 200);
    }
  });

  /** A server in this process over the same store, tuned as the test needs. */
  async function inProcess(ui: StateServerOptions["ui"]): Promise<{ server: StateServer; url: string }> {
    const inner = createStateServer({
      store: fileStore(fileURLToPath(store)),
      encrypter: keyEncrypter({ key: Buffer.from(KEY, "base64") }),
      auth: createAuthenticator({ adminToken: ADMIN_TOKEN }),
      ui,
    });
    const { port } = await inner.listen("127.0.0.1", 0);
    return { server: inner, url: `http://127.0.0.1:${port}` };
  }

  test("entry counts the stacks page could not wait for are filled in by ui.js from /ui/counts", async () => {
    const inner = await inProcess({ countWaitMs: 0 });
    try {
      const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
      const cold = await (await fetch(`${inner.url}/ui/`, { headers: auth })).text();
      // The Terraform states' pointers record no count (a wrapped document is counted when opened):
      // pending on the first view. The snapshot stack's pointer records its count: shown at once.
      const pending = [...cold.matchAll(/data-f="([^"]*)" data-s="([^"]*)"/g)].map((m) => `${m[1]}/${m[2]}`);
      for (const tfState of ["infra/dns", "infra/many", "infra/network"])
        assert.ok(pending.includes(tfState), `${tfState} is pending on the first view: ${pending}`);
      assert.ok(
        pending.every((name) => name.startsWith("infra/")),
        `only Terraform states (infra/*) are pending: ${pending}`,
      );
      const webshopRow = /<tr data-name="webshop\/prod">[\s\S]*?<\/tr>/.exec(cold)?.[0] ?? "";
      assert.match(webshopRow, /<td class="num">3<\/td>/, "webshop/prod's count comes from its pointer");
      const bad = await fetch(`${inner.url}/ui/counts?f=infra&s=network`, { headers: auth });
      assert.equal(bad.status, 400, "a revision without its rev is refused");

      const context = await newContext();
      await context.setExtraHTTPHeaders(auth);
      const page = await context.newPage();
      await page.goto(`${inner.url}/ui/`);
      await page.waitForSelector("#stacks td[data-r]", { state: "detached" });
      const entries = async (p: Page) =>
        p.$$eval("#stacks tbody tr", (trs) =>
          trs.map((tr) => [
            tr.getAttribute("data-name"),
            (tr.querySelectorAll("td")[4]?.textContent ?? "").trim(),
          ]),
        );
      const filled = await entries(page);
      const reference = await loggedIn(ADMIN_TOKEN);
      assert.deepEqual(filled, await entries(reference), "the same counts as a page that waited for them");
      assert.ok(
        filled.every(([, n]) => /^\d+$/.test(n ?? "")),
        `every count is a number: ${JSON.stringify(filled)}`,
      );
    } finally {
      await inner.server.close(1000);
    }
  });

  test("failed logins are limited per client address: past the limit even the right token gets 429 with Retry-After", async () => {
    const inner = await inProcess({ loginFailures: { max: 3, windowMs: 60_000 } });
    const login = (token: string, localAddress: string) =>
      new Promise<{ status: number; retryAfter: string | undefined; body: string }>((resolve, reject) => {
        const body = new URLSearchParams({ token }).toString();
        const req = request(
          `${inner.url}/ui/login`,
          {
            method: "POST",
            localAddress,
            headers: {
              "content-type": "application/x-www-form-urlencoded",
              origin: inner.url,
              "content-length": Buffer.byteLength(body),
            },
          },
          (res) => {
            let text = "";
            res.setEncoding("utf8");
            res.on("data", (c: string) => {
              text += c;
            });
            res.on("end", () =>
              resolve({ status: res.statusCode ?? 0, retryAfter: res.headers["retry-after"], body: text }),
            );
          },
        );
        req.on("error", reject);
        req.end(body);
      });
    try {
      for (let i = 0; i < 3; i++) assert.equal((await login("wrong-token", "127.0.0.1")).status, 401);
      const limited = await login(ADMIN_TOKEN, "127.0.0.1");
      assert.equal(limited.status, 429, "the right token too, once the address is over the limit");
      assert.ok(Number(limited.retryAfter) >= 1 && Number(limited.retryAfter) <= 60, limited.retryAfter);
      assert.match(limited.body, /Too many failed logins/);
      assert.ok(!limited.body.includes(ADMIN_TOKEN), "the token is not echoed");
      const elsewhere = await login(ADMIN_TOKEN, "127.0.0.2");
      assert.equal(elsewhere.status, 303, "another address logs in");
      // A burst in parallel from a third address gets no more than the limit.
      const burst = await Promise.all(Array.from({ length: 8 }, () => login("wrong-token", "127.0.0.3")));
      assert.deepEqual(
        burst.map((r) => r.status).sort(),
        [401, 401, 401, 429, 429, 429, 429, 429],
        "three tries in a parallel burst, the rest refused",
      );
    } finally {
      await inner.server.close(1000);
    }
  });

  test("a stack headed by a log: listed, its page shows its revisions newest first with their committers, a diff and a rollback work", async () => {
    // Made by the library (the default head for new stacks is still the pointer).
    const logged = createBackend(fileStore(fileURLToPath(store)), {
      factory: "logged",
      stack: "app",
      encrypter: keyEncrypter({ key: Buffer.from(KEY, "base64") }),
      head: "log",
    });
    const v1 = decodeSnapshot(readFileSync(V1));
    const base: Snapshot = { ...v1, factory: { ...v1.factory, name: "logged" }, stack: "app" };
    const first = await logged.commit(base);
    const second = await logged.commitChanges({ remove: [base.entries[0]?.address ?? ""] });
    assert.deepEqual([first, second], ["1", "2"], "a log's revisions are its entries' numbers");
    const page = await loggedIn(ADMIN_TOKEN);
    await page.goto(`${server.url}/ui/`);
    await Promise.all([page.waitForURL(`${server.url}/ui/stacks/logged/app`), page.click("text=logged/app")]);
    const shown = await page.$$eval("#revisions tbody tr td:nth-child(3)", (tds) =>
      tds.map((td) => (td.textContent ?? "").trim().split(" ")[0]),
    );
    assert.deepEqual(shown, [second, first], "newest first");
    const authors = await page.$$eval("#revisions tbody tr td.author", (tds) =>
      tds.map((td) => (td.textContent ?? "").trim()),
    );
    assert.equal(authors.length, 2);
    for (const a of authors) assert.match(a, /^[^@\s]+@\S+$/, "each revision names its committer");
    await shot(page, "log-stack");
    await page.check(`input[name=from][value="${first}"]`);
    await page.check(`input[name=to][value="${second}"]`);
    await Promise.all([page.waitForURL(/\/diff\?/), page.click("text=Diff selected")]);
    assert.match((await page.textContent("#summary")) ?? "", /0 added, 1 removed, 0 changed/);
    await page.goto(`${server.url}/ui/stacks/logged/app`);
    await Promise.all([page.waitForURL(/\/rollback\?rev=/), page.click("text=Roll back to this… >> nth=0")]);
    await Promise.all([page.waitForURL(/\?done=rollback$/), page.click("text=Commit the rollback")]);
    const after = await logged.list();
    assert.equal(after.length, 3, "a rollback appends a commit");
    assert.equal(
      (await logged.current()).entries.length,
      base.entries.length,
      "the new revision has the first one's content",
    );
  });

  test("every page and asset carries the CSP, nosniff and Referrer-Policy", async () => {
    const page = await loggedIn(ADMIN_TOKEN);
    for (const path of ["/ui/assets/ui.css", "/ui/assets/ui.js", "/ui/no-such-page"]) {
      const r = await page.goto(`${server.url}${path}`);
      assert.equal(r?.headers()["content-security-policy"], CSP, path);
    }
    assert.ok(documents.length >= 15, `pages were seen: ${documents.length}`);
    for (const d of documents) {
      assert.equal(d.headers["content-security-policy"], CSP, d.url);
      assert.equal(d.headers["x-content-type-options"], "nosniff", d.url);
      assert.equal(d.headers["referrer-policy"], "same-origin", d.url);
    }
  });
});
