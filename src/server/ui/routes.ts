/**
 * The web view of `statekeeper serve`, under /ui/: server-rendered pages over the same store,
 * key and authenticator as the Terraform routes. Reading needs the read scope on a stack, acting
 * (force-unlock, rollback) the admin scope. Credentials: the token in an HttpOnly, SameSite=Strict
 * cookie set by the login page, or the API's `Authorization` header. Every POST must come from a
 * page of this server (Origin, else Referer). Every answer carries a Content-Security-Policy that
 * allows no inline script (docs/server.md, "Web view").
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { rollbackStack } from "../../admin/rollback.js";
import { listStacks, type StackSummary, stacksCache } from "../../admin/stacks.js";
import {
  type Backend,
  createBackend,
  type LockInfo,
  validateFactoryName,
  validateName,
} from "../../backend/index.js";
import { backendInternals } from "../../backend/internals.js";
import type { Encrypter } from "../../crypto/types.js";
import { hasErrorCode, isStateKeeperError } from "../../errors.js";
import { mapBounded } from "../../internal/bounded.js";
import { LruCache } from "../../internal/lru.js";
import { age, formatBytes } from "../../internal/text.js";
import type { ObjectStore } from "../../objectstore/types.js";
import { maskSensitive, revisionTime } from "../../snapshot/index.js";
import type { Authenticator, Principal } from "../auth.js";
import {
  factoryOfPathSegment,
  factoryPathSegment,
  HttpError,
  type RequestUrl,
  readBody,
  send,
  statusFor,
} from "../http.js";
import { CSS, JS } from "./assets.js";
import { type Html, html, query, raw, seg } from "./html.js";

export interface UiRoutesOptions {
  store: ObjectStore;
  encrypter: Encrypter;
  auth: Authenticator;
  /** Served over TLS: the cookie gets `Secure`, and the expected Origin is https. */
  tls: boolean;
  /** Unexpected errors, with the request id. */
  onError?: ((e: unknown, requestId: string) => void) | undefined;
  /** Tuning; the defaults suit a server. */
  tuning?: UiTuning | undefined;
}

export interface UiTuning {
  /**
   * How long the stacks page waits for entry counts that need a revision opened (default 250 ms);
   * 0: not at all, every count not yet known is shown pending and filled in by ui.js.
   */
  countWaitMs?: number;
  /** Failed logins one client address may make per window before it is refused with 429 (default 10 per 5 minutes). */
  loginFailures?: { max: number; windowMs: number };
}

/** The handler: answers every request under /ui and returns who made it (for the access log). */
export type UiRoutes = (
  req: IncomingMessage,
  res: ServerResponse,
  url: RequestUrl,
) => Promise<Principal | undefined>;

export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  "content-security-policy": CONTENT_SECURITY_POLICY,
  "x-content-type-options": "nosniff",
  "referrer-policy": "same-origin",
  "x-frame-options": "DENY",
});

export const COOKIE_NAME = "statekeeper_ui";
const REVISIONS_PER_PAGE = 50;
/** Opened revisions remembered per process: stack+rev → entries and size (a rev never changes). */
const COUNT_CACHE_ENTRIES = 50_000;
const MAX_FORM_BYTES = 16 * 1024;
/** Rendered diff pages kept per process, by the two revision objects' etags (bytes of HTML). */
const DIFF_CACHE_BYTES = 32 * 1024 * 1024;
/** Revisions opened at once by this process, for every page together. */
const OPEN_CONCURRENCY = 4;
/**
 * How long the stacks page waits for entry counts it has to open revisions for. Counts not known
 * by then are shown as pending and go on being counted; ui.js fills them in from /ui/counts.
 */
const COUNT_WAIT_MS = 250;
const LOGIN_FAILURES = { max: 10, windowMs: 5 * 60_000 };
/** Client addresses whose failed logins are remembered (the oldest are forgotten first). */
const LOGIN_ADDRESSES = 10_000;
/** Sorting by entries needs every count: the page waits for them up to this long. */
const SORTED_COUNT_WAIT_MS = 60_000;
/** How long one /ui/counts request waits for the counts it asks about. */
const COUNTS_REQUEST_WAIT_MS = 10_000;
/** Revisions one /ui/counts request may ask about. */
const COUNTS_PER_REQUEST = 100;

interface Opened {
  entries: number;
  size: number;
  /** Who committed it, where the revision records it. */
  committedBy?: string;
}

/** A revision's entry count as far as this process knows it: counted, failed (error code), or pending. */
type Count = { entries: number } | { problem: string } | undefined;

type SortKey = "name" | "age" | "size" | "entries";
const SORT_KEYS: readonly SortKey[] = ["name", "age", "size", "entries"];

export function uiRoutes(options: UiRoutesOptions): UiRoutes {
  const { store, encrypter, auth } = options;
  const countWaitMs = options.tuning?.countWaitMs ?? COUNT_WAIT_MS;
  const loginLimit = options.tuning?.loginFailures ?? LOGIN_FAILURES;
  /** Times of recent failed logins, per client address. */
  const loginFailures = new LruCache<string, number[]>(LOGIN_ADDRESSES);
  const opened = new LruCache<string, Opened>(COUNT_CACHE_ENTRIES);
  /**
   * Diff pages already rendered, keyed by the two revisions' object etags: a revision's content
   * never changes, and an object that was rewritten (resealed) or removed no longer matches.
   */
  const diffs = new LruCache<string, Html>(DIFF_CACHE_BYTES, (h) => h.text.length);
  /** Pointers kept by etag: a stacks page reads only those that moved since the last one. */
  const pointers = stacksCache();
  /** Revisions that could not be opened: the error code, kept briefly (a key may be fixed). */
  const failed = new LruCache<string, { code: string; at: number }>(COUNT_CACHE_ENTRIES);
  const opening = new Map<string, Promise<Opened>>();
  const limit = limiter(OPEN_CONCURRENCY);
  const backendOf = (factory: string, stack: string): Backend =>
    createBackend(store, { factory, stack, encrypter });
  const revKey = (factory: string, stack: string, rev: string) => `${factory}/${stack}@${rev}`;

  /**
   * Entries and size of a revision, opened once per process (a rev never changes), at most
   * OPEN_CONCURRENCY at a time across all requests; a page that needs one now (`urgent`) goes
   * before the stacks page's background counting.
   */
  function openedOf(backend: Backend, rev: string, urgent = true): Promise<Opened> {
    const key = revKey(backend.factory, backend.stack, rev);
    const known = opened.get(key);
    if (known !== undefined) return Promise.resolve(known);
    let pending = opening.get(key);
    if (pending === undefined) {
      pending = limit(urgent, async () => {
        // A format-2 revision's count comes from its manifest and chunk list: no entry is assembled.
        const { entries, size, committedBy } = await backend.revisionSummary(rev);
        return { entries, size, ...(committedBy === undefined ? {} : { committedBy }) };
      }).then(
        (value) => {
          opened.set(key, value);
          failed.delete(key);
          return value;
        },
        (e: unknown) => {
          failed.set(key, { code: isStateKeeperError(e) ? e.code : "error", at: Date.now() });
          throw e;
        },
      );
      const settled = pending.finally(() => opening.delete(key));
      settled.catch(() => {}); // the callers see the error; this copy only clears the map
      opening.set(key, pending);
    }
    return pending;
  }

  /** What is known now of a revision's entry count; starts counting it if nothing is. */
  function countNow(factory: string, stack: string, rev: string): Count {
    const key = revKey(factory, stack, rev);
    const known = opened.get(key);
    if (known !== undefined) return { entries: known.entries };
    const problem = failed.get(key);
    if (problem !== undefined && Date.now() - problem.at < 60_000) return { problem: problem.code };
    openedOf(backendOf(factory, stack), rev, false).catch(() => {});
    return undefined;
  }

  /** Waits at most `ms` for the counts of `revs` (started if need be), then says what is known. */
  async function countsWithin(revs: { factory: string; stack: string; rev: string }[], ms: number) {
    const waits = revs.map((r) => {
      countNow(r.factory, r.stack, r.rev);
      return opening.get(revKey(r.factory, r.stack, r.rev));
    });
    const pending = waits.filter((w) => w !== undefined);
    if (pending.length > 0 && ms > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled(pending),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, ms);
        }),
      ]);
      clearTimeout(timer);
    }
    return revs.map((r) => countNow(r.factory, r.stack, r.rev));
  }

  function principalOf(req: IncomingMessage): Principal | undefined {
    const token = cookieToken(req);
    if (token !== undefined) {
      const p = auth.authenticate(`Bearer ${token}`);
      if (p !== undefined) return p;
    }
    return auth.authenticate(req.headers.authorization);
  }

  function sameOrigin(req: IncomingMessage): boolean {
    const host = req.headers.host;
    if (host === undefined) return false;
    const own = `${options.tls ? "https" : "http"}://${host}`.toLowerCase();
    const origin = req.headers.origin;
    if (typeof origin === "string" && origin !== "") return origin.toLowerCase() === own;
    const referer = req.headers.referer;
    if (typeof referer !== "string" || referer === "") return false;
    try {
      return new URL(referer).origin.toLowerCase() === own;
    } catch {
      return false;
    }
  }

  function cookie(value: string, maxAge?: number): string {
    return [
      `${COOKIE_NAME}=${value}`,
      "HttpOnly",
      "SameSite=Strict",
      "Path=/ui",
      ...(options.tls ? ["Secure"] : []),
      ...(maxAge === undefined ? [] : [`Max-Age=${maxAge}`]),
    ].join("; ");
  }

  async function formOf(req: IncomingMessage): Promise<URLSearchParams> {
    const type = req.headers["content-type"] ?? "";
    if (!type.toLowerCase().startsWith("application/x-www-form-urlencoded"))
      throw new HttpError(415, "E_INVALID_ARGUMENT", "send the form as application/x-www-form-urlencoded");
    const body = await readBody(req, MAX_FORM_BYTES);
    return new URLSearchParams(body.bytes.toString("utf8"));
  }

  return async function ui(req, res, url) {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    const method = req.method ?? "GET";
    const path = url.pathname;
    let principal: Principal | undefined;
    try {
      if (path === "/ui") return redirect(res, "/ui/");
      if (path.startsWith("/ui/assets/")) {
        if (method !== "GET" && method !== "HEAD") throw methodNotAllowed("GET");
        if (path === "/ui/assets/ui.css") send(res, 200, CSS, { "content-type": "text/css; charset=utf-8" });
        else if (path === "/ui/assets/ui.js")
          send(res, 200, JS, { "content-type": "text/javascript; charset=utf-8" });
        else throw new HttpError(404, "E_NOT_FOUND", "no such asset");
        return undefined;
      }
      if (method === "POST" && !sameOrigin(req))
        throw new HttpError(
          403,
          "E_FORBIDDEN",
          "refused: this form was not sent from a page of this server (Origin/Referer)",
        );
      if (path === "/ui/login") {
        if (method === "GET") {
          page(res, 200, "Log in", loginPage(undefined), undefined);
          return undefined;
        }
        if (method !== "POST") throw methodNotAllowed("GET, POST");
        // Failed logins are limited per client address: refused before the token is even looked at.
        const address = req.socket.remoteAddress ?? "unknown";
        const now = Date.now();
        const recent = (loginFailures.get(address) ?? []).filter((t) => now - t < loginLimit.windowMs);
        if (recent.length >= loginLimit.max) {
          const retryAfter = Math.max(
            1,
            Math.ceil(((recent[0] as number) + loginLimit.windowMs - now) / 1000),
          );
          res.setHeader("retry-after", String(retryAfter));
          page(
            res,
            429,
            "Log in",
            loginPage(`Too many failed logins from this address: try again in ${retryAfter} s.`),
            undefined,
          );
          return undefined;
        }
        // Counted as failed until it succeeds, before the first await: parallel attempts from one
        // address cannot all pass the check above.
        loginFailures.set(address, [...recent, now]);
        const token = (await formOf(req)).get("token")?.trim() ?? "";
        principal = token === "" ? undefined : auth.authenticate(`Bearer ${token}`);
        if (principal === undefined) {
          page(res, 401, "Log in", loginPage("That token is not valid."), undefined);
          return undefined;
        }
        loginFailures.delete(address);
        res.setHeader("set-cookie", cookie(encodeURIComponent(token)));
        redirect(res, "/ui/");
        return principal;
      }
      if (path === "/ui/logout") {
        if (method !== "POST") throw methodNotAllowed("POST");
        res.setHeader("set-cookie", cookie("", 0));
        redirect(res, "/ui/login");
        return undefined;
      }

      principal = principalOf(req);
      if (principal === undefined) {
        if (method === "GET" || method === "HEAD") redirect(res, "/ui/login");
        else throw new HttpError(401, "E_AUTH", "log in first");
        return undefined;
      }
      const who = principal;

      if (path === "/ui/") {
        if (method !== "GET") throw methodNotAllowed("GET");
        await stacksPage(res, who, url.searchParams);
        return who;
      }
      if (path === "/ui/counts") {
        if (method !== "GET") throw methodNotAllowed("GET");
        await countsJson(res, who, url.searchParams);
        return who;
      }
      const route = stackRoute(path);
      if (route === undefined) throw new HttpError(404, "E_NOT_FOUND", "no such page");
      const { factory, stack } = route;
      if (!auth.allows(who, "read", factory, stack))
        throw new HttpError(403, "E_FORBIDDEN", `${who.name} may not read ${factory}/${stack}`);
      const backend = backendOf(factory, stack);
      const admin = auth.allows(who, "admin", factory, stack);
      const needAdmin = () => {
        if (!admin)
          throw new HttpError(
            403,
            "E_FORBIDDEN",
            `${who.name} may not act on ${factory}/${stack}: this needs the admin scope`,
          );
      };
      switch (route.what) {
        case "stack":
          if (method !== "GET") throw methodNotAllowed("GET");
          await stackPage(res, who, backend, admin, url.searchParams);
          break;
        case "diff":
          if (method !== "GET") throw methodNotAllowed("GET");
          await diffPage(res, who, backend, url.searchParams);
          break;
        case "entry":
          if (method !== "GET") throw methodNotAllowed("GET");
          await entryPage(res, who, backend, route.rev ?? "", url.searchParams.get("address") ?? "");
          break;
        case "force-unlock":
          needAdmin();
          if (method === "GET") await forceUnlockConfirm(res, who, backend);
          else if (method === "POST") await forceUnlockDo(res, backend, await formOf(req));
          else throw methodNotAllowed("GET, POST");
          break;
        case "rollback":
          needAdmin();
          if (method === "GET") await rollbackConfirm(res, who, backend, url.searchParams.get("rev") ?? "");
          else if (method === "POST") await rollbackDo(res, who, backend, await formOf(req));
          else throw methodNotAllowed("GET, POST");
          break;
      }
      return who;
    } catch (e) {
      const status = statusFor(e);
      if (status >= 500 && !(e instanceof HttpError))
        options.onError?.(e, String(res.getHeader("x-request-id") ?? ""));
      const message =
        e instanceof HttpError || isStateKeeperError(e) ? e.message : "internal error (see the server's log)";
      if (res.headersSent) res.destroy();
      else {
        if (e instanceof HttpError) for (const [k, v] of Object.entries(e.headers)) res.setHeader(k, v);
        page(
          res,
          status,
          `Error ${status}`,
          html`<h1>${status === 403 ? "Not allowed" : `Error ${status}`}</h1>
<div class="panel error"><p>${message}</p></div>
<p><a href="/ui/">All stacks</a></p>`,
          principal,
        );
      }
      return principal;
    }
  };

  // ---- pages ---------------------------------------------------------------------------------

  async function stacksPage(res: ServerResponse, who: Principal, params: URLSearchParams): Promise<void> {
    const q = (params.get("q") ?? "").trim();
    const sortParam = params.get("sort") ?? "name";
    const sort: SortKey = (SORT_KEYS as readonly string[]).includes(sortParam)
      ? (sortParam as SortKey)
      : "name";
    // Revisions are not counted: the page does not show them, and counting lists every object.
    const all = (await listStacks(store, { cache: pointers, revisions: false })).filter((s) =>
      auth.allows(who, "read", s.factory, s.stack),
    );
    // Size, age and (for revisions committed since it was recorded) the entry count come from the
    // pointers the listing read; only the other counts need a revision opened. Sorting by entries
    // waits for every count; otherwise the page waits a little and shows the rest as pending
    // (ui.js fills them in).
    // Smallest first: the many small revisions are counted within the wait, and a big one (whose
    // decoding holds the event loop for a second or more) starts last, usually after the page is sent.
    for (const s of all)
      if (s.current !== null && s.entries !== null && s.size !== null)
        opened.set(revKey(s.factory, s.stack, s.current), { entries: s.entries, size: s.size });
    const withCurrent = all
      .filter((s) => s.current !== null)
      .sort((a, b) => (a.size ?? 0) - (b.size ?? 0))
      .map((s) => ({ factory: s.factory, stack: s.stack, rev: s.current as string }));
    const counts = await countsWithin(withCurrent, sort === "entries" ? SORTED_COUNT_WAIT_MS : countWaitMs);
    const countOf = new Map(withCurrent.map((r, i) => [revKey(r.factory, r.stack, r.rev), counts[i]]));
    const rows = all.map((s) => ({
      s,
      name: `${s.factory}/${s.stack}`,
      time: s.current === null ? null : revisionTime(s.current),
      count: s.current === null ? undefined : countOf.get(revKey(s.factory, s.stack, s.current)),
    }));
    const entriesOf = (r: (typeof rows)[number]) =>
      r.count !== undefined && "entries" in r.count ? r.count.entries : -1;
    const needle = q.toLowerCase();
    const shown = rows.filter((r) => needle === "" || r.name.toLowerCase().includes(needle));
    const by: Record<SortKey, (a: (typeof rows)[number], b: (typeof rows)[number]) => number> = {
      name: (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
      // Newest first.
      age: (a, b) => (b.time ?? "").localeCompare(a.time ?? ""),
      size: (a, b) => (b.s.size ?? -1) - (a.s.size ?? -1),
      entries: (a, b) => entriesOf(b) - entriesOf(a),
    };
    shown.sort((a, b) => by[sort](a, b) || by.name(a, b));
    const header = (key: SortKey, label: string, cls = "") =>
      html`<th class="${cls}" ${sort === key ? raw(key === "name" ? 'aria-sort="ascending"' : 'aria-sort="descending"') : ""}>${
        sort === key
          ? html`${label} ▾`
          : html`<a href="/ui/${query({ q: q === "" ? undefined : q, sort: key })}">${label}</a>`
      }</th>`;
    const body = html`<h1>Stacks</h1>
<form class="filter" method="get" action="/ui/" role="search">
  <label for="filter" class="muted">Filter</label>
  <input type="search" id="filter" name="q" value="${q}" placeholder="factory/stack" autocomplete="off">
  <input type="hidden" name="sort" value="${sort}">
  <button type="submit">Filter</button>
</form>
<p class="muted"><span id="shown">${shown.length}</span> of ${rows.length} stacks you may read</p>
<div class="table-wrap"><table id="stacks">
<thead><tr>${header("name", "Stack")}<th class="hide-narrow">Current revision</th>${header("age", "Age")}${header("size", "Size", "num")}${header("entries", "Entries", "num")}<th>Lock</th></tr></thead>
<tbody>${shown.map(
      (r) => html`<tr data-name="${r.name}">
<td class="addr"><a href="${stackHref(r.s.factory, r.s.stack)}">${r.name}</a></td>
<td class="mono hide-narrow">${r.s.current ?? html`<span class="muted">none</span>`}</td>
<td>${r.time === null ? "–" : html`<time datetime="${r.time}" title="${r.time}">${age(r.time)}</time>`}</td>
<td class="num">${r.s.size === null ? "–" : formatBytes(r.s.size)}</td>
${countCell(r.s, r.count)}
<td>${
        r.s.holder === null
          ? html`<span class="muted">free</span>`
          : html`<span class="locked">locked</span> by ${r.s.holder.user}@${r.s.holder.host}, ${r.s.holder.operation}, since <time datetime="${r.s.holder.since}" title="${r.s.holder.since}">${age(r.s.holder.since)}</time>`
      }</td>
</tr>`,
    )}</tbody></table></div>`;
    page(res, 200, "Stacks", body, who);
  }

  /**
   * `GET /ui/counts?f=<factory>&s=<stack>&r=<rev>…` (up to COUNTS_PER_REQUEST triples): the entry
   * counts the stacks page showed as pending, for ui.js. Waits up to COUNTS_REQUEST_WAIT_MS; a
   * count still unknown then is `null` (ask again). Stacks the caller may not read are refused.
   */
  async function countsJson(res: ServerResponse, who: Principal, params: URLSearchParams): Promise<void> {
    const f = params.getAll("f");
    const st = params.getAll("s");
    const r = params.getAll("r");
    if (f.length !== st.length || f.length !== r.length || f.length > COUNTS_PER_REQUEST)
      throw new HttpError(
        400,
        "E_INVALID_ARGUMENT",
        `give up to ${COUNTS_PER_REQUEST} revisions as f=<factory>&s=<stack>&r=<rev>, one of each per revision`,
      );
    const revs = f.map((factory, i) => {
      const named = { factory: checkedName("factory", factory), stack: checkedName("stack", st[i] ?? "") };
      const rev = r[i] ?? "";
      if (rev === "" || rev.includes("/"))
        throw new HttpError(400, "E_INVALID_ARGUMENT", `invalid revision ${JSON.stringify(rev)}`);
      if (!auth.allows(who, "read", named.factory, named.stack))
        throw new HttpError(403, "E_FORBIDDEN", `${who.name} may not read ${named.factory}/${named.stack}`);
      return { ...named, rev };
    });
    const counts = await countsWithin(revs, COUNTS_REQUEST_WAIT_MS);
    send(res, 200, JSON.stringify({ counts: counts.map((c) => c ?? null) }), {
      "content-type": "application/json; charset=utf-8",
      "cache-control": "no-store",
    });
  }

  async function stackPage(
    res: ServerResponse,
    who: Principal,
    backend: Backend,
    admin: boolean,
    params: URLSearchParams,
  ): Promise<void> {
    const { factory, stack } = backend;
    const [history, lock, madeCurrent] = await Promise.all([
      backend.history(),
      backend.lockInfo(),
      // Who moved `current` to its rev (or wrote the log's commit): the one author statekeeper
      // records (see docs/server.md).
      backendInternals(backend)
        .currentPointer()
        .catch(() => undefined),
    ]);
    const revisions = [...history.revisions].reverse();
    const pages = Math.max(1, Math.ceil(revisions.length / REVISIONS_PER_PAGE));
    const pageNo = Math.min(pages, Math.max(1, Number.parseInt(params.get("page") ?? "1", 10) || 1));
    const slice = revisions.slice((pageNo - 1) * REVISIONS_PER_PAGE, pageNo * REVISIONS_PER_PAGE);
    const counts = await mapBounded(slice, OPEN_CONCURRENCY, async (r) => {
      try {
        return await openedOf(backend, r.rev);
      } catch {
        return undefined;
      }
    });
    const done = params.get("done");
    const notice =
      done === "force-unlock"
        ? html`<div class="panel notice" role="status">The lock was removed.</div>`
        : done === "rollback"
          ? html`<div class="panel notice" role="status">Rolled back: a new revision is current.</div>`
          : "";
    const base = stackHref(factory, stack);
    const defaultTo = revisions[0]?.rev;
    const defaultFrom = revisions[1]?.rev;
    const lockPanel =
      lock === undefined
        ? html`<div class="panel" id="lock"><strong>Lock:</strong> free</div>`
        : html`<div class="panel warn" id="lock"><strong>Locked</strong> by ${lock.user}@${lock.host}${lock.pid > 0 ? ` (pid ${lock.pid})` : ""},
operation <code>${lock.operation}</code>, since <time datetime="${lock.since}">${lock.since}</time> (${age(lock.since)})${lockWho(lock)}
${admin ? html`<p><a class="button danger" href="${base}/force-unlock">Force-unlock…</a></p>` : ""}</div>`;
    const pager =
      pages === 1
        ? ""
        : html`<nav class="pager" aria-label="Pages">${
            pageNo > 1 ? html`<a href="${base}${query({ page: pageNo - 1 })}">← Newer</a>` : ""
          }<span>Page ${pageNo} of ${pages}</span>${
            pageNo < pages ? html`<a href="${base}${query({ page: pageNo + 1 })}">Older →</a>` : ""
          }</nav>`;
    const body = html`<p><a href="/ui/">All stacks</a></p>
<h1>${factory}/${stack}</h1>
${notice}${lockPanel}
<h2>Revisions <span class="muted">(${revisions.length}, newest first)</span></h2>
${
  revisions.length === 0
    ? html`<p class="muted">No revisions.</p>`
    : html`<form method="get" action="${base}/diff">
${pager}
<div class="table-wrap"><table id="revisions">
<thead><tr><th>From</th><th>To</th><th>Revision</th><th>Time</th><th>Author</th><th class="num">Size</th><th class="num">Entries</th>${admin ? html`<th>Action</th>` : ""}</tr></thead>
<tbody>${slice.map((r, i) => {
        const time = revisionTime(r.rev);
        const c = counts[i];
        return html`<tr>
<td><input type="radio" name="from" value="${r.rev}" aria-label="diff from ${r.rev}" ${r.rev === defaultFrom ? raw("checked") : ""}></td>
<td><input type="radio" name="to" value="${r.rev}" aria-label="diff to ${r.rev}" ${r.rev === defaultTo ? raw("checked") : ""}></td>
<td class="mono addr">${r.rev}${r.current ? html` <span class="badge">current</span>` : ""}</td>
<td>${time === null ? "?" : html`<time datetime="${time}" title="${time}">${age(time)}</time>`}</td>
<td class="author">${
          c?.committedBy !== undefined
            ? html`<span title="committed this revision">${c.committedBy}</span>`
            : r.current && madeCurrent?.rev === r.rev && madeCurrent.by !== ""
              ? html`<span title="made current ${madeCurrent.updated}">${madeCurrent.by}</span>`
              : html`<span class="muted" title="not recorded: revisions written before statekeeper recorded authors, imported ones, and Terraform states pushed before it">–</span>`
        }</td>
<td class="num">${formatBytes(r.size)}</td>
<td class="num">${c === undefined ? "?" : c.entries}</td>
${admin ? html`<td>${r.current ? "" : html`<a class="button" href="${base}/rollback${query({ rev: r.rev })}">Roll back to this…</a>`}</td>` : ""}
</tr>`;
      })}</tbody></table></div>
<p><button type="submit" class="primary">Diff selected</button></p>
${pager}
</form>`
}`;
    page(res, 200, `${factory}/${stack}`, body, who);
  }

  async function diffPage(res: ServerResponse, who: Principal, backend: Backend, params: URLSearchParams) {
    const { factory, stack } = backend;
    const from = params.get("from") ?? "";
    const to = params.get("to") ?? "";
    if (from === "" || to === "")
      throw new HttpError(400, "E_INVALID_ARGUMENT", "pick two revisions: from and to");
    const showAll = params.get("unchanged") === "all";
    // A plain rev names one object: its etag says whether this diff was rendered already.
    const plain = (rev: string) => !rev.includes("/") && !rev.startsWith(".");
    let cacheKey: string | undefined;
    if (plain(from) && plain(to)) {
      const internals = backendInternals(backend);
      const [keyA, keyB] = await Promise.all([internals.revisionKey(from), internals.revisionKey(to)]);
      const [a, b] =
        keyA === undefined || keyB === undefined
          ? [undefined, undefined]
          : await Promise.all([store.head(keyA), store.head(keyB)]);
      if (a !== undefined && b !== undefined)
        cacheKey = JSON.stringify([factory, stack, from, a.etag, to, b.etag, showAll]);
    }
    const cached = cacheKey === undefined ? undefined : diffs.get(cacheKey);
    if (cached !== undefined) return page(res, 200, `Diff ${factory}/${stack}`, cached, who);
    // The backend reads only what can differ (format 2: the chunks the two revisions do not
    // share); the unchanged entries are listed only on request, which opens the whole revision.
    const d = await backend.diff(from, to);
    const base = stackHref(factory, stack);
    const entryLink = (rev: string, address: string) =>
      html`<a href="${base}/revs/${seg(rev)}/entry${query({ address })}">${address}</a>`;
    const changedAddresses = new Set([
      ...d.added.map((e) => e.address),
      ...d.removed.map((e) => e.address),
      ...d.changed.map((e) => e.address),
    ]);
    const unchanged = showAll
      ? (await backend.get(to)).entries.filter((e) => !changedAddresses.has(e.address))
      : [];
    const changeRows = (name: string, c: { before?: unknown; after?: unknown }) =>
      html`<tr><td class="mono addr">${name}</td><td class="mono addr ${"before" in c ? "del" : "muted"}">${
        "before" in c ? shown(c.before) : "(none)"
      }</td><td class="mono addr ${"after" in c ? "add" : "muted"}">${"after" in c ? shown(c.after) : "(none)"}</td></tr>`;
    const changeTable = (rows: Html[]) =>
      rows.length === 0
        ? ""
        : html`<div class="table-wrap"><table><thead><tr><th>Field</th><th>Before</th><th>After</th></tr></thead><tbody>${rows}</tbody></table></div>`;
    const body = html`<p><a href="/ui/">All stacks</a> › <a href="${base}">${factory}/${stack}</a></p>
<h1>Diff</h1>
<p class="mono">${from} → ${to}</p>
<p id="summary"><span class="add">${d.added.length} added</span>, <span class="del">${d.removed.length} removed</span>, <span class="chg">${d.changed.length} changed</span>, ${d.outputs.length} output changes, ${d.unchanged} unchanged</p>
${d.snapshot.length > 0 ? html`<h2>Snapshot</h2>${changeTable(d.snapshot.map((c) => changeRows(c.field, c)))}` : ""}
${
  d.changed.length > 0
    ? html`<h2 class="chg">Changed</h2>${d.changed.map(
        (e) =>
          html`<div class="entry"><h3>~ ${entryLink(to, e.address)}</h3>${changeTable([
            ...e.fields.map((f) => changeRows(f.field, f)),
            ...e.inputs.map((c) => changeRows(joinPath("inputs", c.path), c)),
            ...e.outputs.map((c) => changeRows(joinPath("outputs", c.path), c)),
            ...e.dependsOn.added.map((dep) => changeRows("dependsOn", { after: dep })),
            ...e.dependsOn.removed.map((dep) => changeRows("dependsOn", { before: dep })),
          ])}</div>`,
      )}`
    : ""
}
${
  d.added.length > 0
    ? html`<h2 class="add">Added</h2>${d.added.map(
        (
          e,
        ) => html`<div class="entry"><h3>+ ${entryLink(to, e.address)}</h3><p class="muted">${e.type}${e.kind === undefined ? "" : ` ${e.kind}`}</p>
<details><summary>Content</summary><pre>${JSON.stringify(e, null, 2)}</pre></details></div>`,
      )}`
    : ""
}
${
  d.removed.length > 0
    ? html`<h2 class="del">Removed</h2>${d.removed.map(
        (
          e,
        ) => html`<div class="entry"><h3>- ${entryLink(from, e.address)}</h3><p class="muted">${e.type}${e.kind === undefined ? "" : ` ${e.kind}`}</p>
<details><summary>Content</summary><pre>${JSON.stringify(e, null, 2)}</pre></details></div>`,
      )}`
    : ""
}
${d.outputs.length > 0 ? html`<h2>Outputs</h2>${changeTable(d.outputs.map((c) => changeRows(c.path, c)))}` : ""}
${
  d.unchanged > 0
    ? html`<details id="unchanged"${showAll ? raw(" open") : ""}><summary>${d.unchanged} unchanged entries</summary>${
        showAll
          ? html`<ul class="plain">${unchanged.map((e) => html`<li>${entryLink(to, e.address)}</li>`)}</ul>`
          : html`<p><a id="all-unchanged" href="${base}/diff${query({ from, to, unchanged: "all" })}#unchanged">List all ${d.unchanged} unchanged entries</a> (opens the whole revision)</p>`
      }</details>`
    : ""
}`;
    if (cacheKey !== undefined) diffs.set(cacheKey, body);
    page(res, 200, `Diff ${factory}/${stack}`, body, who);
  }

  async function entryPage(
    res: ServerResponse,
    who: Principal,
    backend: Backend,
    rev: string,
    address: string,
  ) {
    const { factory, stack } = backend;
    const snapshot = await backend.get(rev);
    const entry = snapshot.entries.find((e) => e.address === address);
    if (entry === undefined)
      throw new HttpError(404, "E_NOT_FOUND", `revision ${rev} has no entry with that address`);
    const base = stackHref(factory, stack);
    const body = html`<p><a href="/ui/">All stacks</a> › <a href="${base}">${factory}/${stack}</a></p>
<h1>${address}</h1>
<p class="muted">In revision <span class="mono">${rev}</span>. Sensitive values read (sensitive).</p>
<pre id="entry">${JSON.stringify(maskSensitive(entry), null, 2)}</pre>`;
    page(res, 200, address, body, who);
  }

  async function forceUnlockConfirm(res: ServerResponse, who: Principal, backend: Backend) {
    const { factory, stack } = backend;
    const lock = await backend.lockInfo();
    const base = stackHref(factory, stack);
    const body =
      lock === undefined
        ? html`<h1>Force-unlock ${factory}/${stack}</h1><div class="panel">The stack is not locked: nothing to remove.</div><p><a href="${base}">Back</a></p>`
        : html`<h1>Force-unlock ${factory}/${stack}</h1>
<div class="panel warn"><p id="consequence">This removes the lock held by <strong>${lock.user}@${lock.host}</strong> (${lock.pid > 0 ? `pid ${lock.pid}, ` : ""}operation <code>${lock.operation}</code>)${lockWho(lock)} since <time datetime="${lock.since}">${lock.since}</time> (${age(lock.since)}).</p>
<p>If that holder is still writing, its next write is refused (fenced); it does not lose a revision already committed.</p></div>
<form method="post" action="${base}/force-unlock">
<input type="hidden" name="id" value="${lock.id}">
<button type="submit" class="danger">Remove the lock</button> <a href="${base}">Cancel</a>
</form>`;
    page(res, 200, `Force-unlock ${factory}/${stack}`, body, who);
  }

  async function forceUnlockDo(res: ServerResponse, backend: Backend, form: URLSearchParams) {
    const id = form.get("id") ?? "";
    if (id === "") throw new HttpError(400, "E_INVALID_ARGUMENT", "no lock id: use the confirmation page");
    let removed: unknown;
    try {
      removed = await backend.forceUnlock({ id });
    } catch (e) {
      if (hasErrorCode(e, "E_LOCKED", "E_CONFLICT"))
        throw new HttpError(
          409,
          "E_CONFLICT",
          "the lock changed hands since the confirmation page: look again",
        );
      throw e;
    }
    if (removed === undefined)
      throw new HttpError(409, "E_CONFLICT", "that lock is no longer held: nothing was removed");
    redirect(res, `${stackHref(backend.factory, backend.stack)}${query({ done: "force-unlock" })}`);
  }

  async function rollbackConfirm(res: ServerResponse, who: Principal, backend: Backend, rev: string) {
    const { factory, stack } = backend;
    if (rev === "")
      throw new HttpError(400, "E_INVALID_ARGUMENT", "name the revision to roll back to (?rev=)");
    const content = await backend.readRevision(rev);
    const current = await backend.currentRev().catch(() => null);
    const base = stackHref(factory, stack);
    const body = html`<h1>Roll back ${factory}/${stack}</h1>
<div class="panel warn"><p id="consequence">This commits a NEW revision with the content of <span class="mono">${rev}</span>
(${content.snapshot.entries.length} entries); history is kept. The current revision${current === null ? "" : html` <span class="mono">${current}</span>`} stays in the history.</p>
<p>It takes the stack lock while it commits: it fails if someone holds the lock.</p></div>
<form method="post" action="${base}/rollback">
<input type="hidden" name="rev" value="${rev}">
<button type="submit" class="danger">Commit the rollback</button> <a href="${base}">Cancel</a>
</form>`;
    page(res, 200, `Roll back ${factory}/${stack}`, body, who);
  }

  async function rollbackDo(res: ServerResponse, who: Principal, backend: Backend, form: URLSearchParams) {
    const rev = form.get("rev") ?? "";
    if (rev === "") throw new HttpError(400, "E_INVALID_ARGUMENT", "no revision: use the confirmation page");
    // The code path of `statekeeper rollback`: under the stack lock (not waited for), a new
    // revision with the old content.
    const result = await rollbackStack(backend, async () => rev, {
      lock: { wait: false, info: { via: "web view", principal: who.name } },
    });
    if (result.unchanged)
      throw new HttpError(409, "E_CONFLICT", `${rev} is already the current revision; nothing committed`);
    redirect(res, `${stackHref(backend.factory, backend.stack)}${query({ done: "rollback" })}`);
  }
}

// ---- helpers ---------------------------------------------------------------------------------

interface StackRoute {
  factory: string;
  stack: string;
  what: "stack" | "diff" | "entry" | "force-unlock" | "rollback";
  rev?: string;
}

/** `/ui/stacks/<f>/<s>[/diff | /force-unlock | /rollback | /revs/<rev>/entry]`; names checked (400). */
function stackRoute(path: string): StackRoute | undefined {
  const parts = path.split("/");
  if (parts[1] !== "ui" || parts[2] !== "stacks") return undefined;
  const [, , , f, s, sub, rev, leaf, ...rest] = parts;
  if (f === undefined || s === undefined || rest.length > 0) return undefined;
  const name = (kind: "factory" | "stack", v: string) => {
    try {
      return kind === "factory" ? factoryOfPathSegment(v) : validateName(kind, decode(v));
    } catch (e) {
      if (isStateKeeperError(e)) throw new HttpError(400, e.code, e.message);
      throw e;
    }
  };
  const base = { factory: name("factory", f), stack: name("stack", s) };
  if (sub === undefined || sub === "") return rev === undefined ? { ...base, what: "stack" } : undefined;
  if (rev === undefined && (sub === "diff" || sub === "force-unlock" || sub === "rollback"))
    return { ...base, what: sub };
  if (sub === "revs" && rev !== undefined && rev !== "" && leaf === "entry")
    return { ...base, what: "entry", rev: decode(rev) };
  return undefined;
}

function checkedName(kind: "factory" | "stack", v: string): string {
  try {
    return kind === "factory" ? validateFactoryName(v) : validateName(kind, v);
  } catch (e) {
    if (isStateKeeperError(e)) throw new HttpError(400, e.code, e.message);
    throw e;
  }
}

/** The stacks table's entries cell: the count, "?" naming why it cannot be counted, or pending for ui.js. */
function countCell(s: StackSummary, count: Count): Html {
  if (s.current === null) return html`<td class="num">–</td>`;
  if (count === undefined)
    return html`<td class="num" data-f="${s.factory}" data-s="${s.stack}" data-r="${s.current}"><span class="muted" title="still counting: reload, or wait for the script">…</span></td>`;
  if ("problem" in count)
    return html`<td class="num"><span class="del" title="${count.problem}">?</span></td>`;
  return html`<td class="num">${count.entries}</td>`;
}

/**
 * Runs at most `n` tasks at once; an urgent task goes to the front of the queue. One per process
 * for opening revisions, so a page's own revisions are not stuck behind background counting.
 */
function limiter(n: number): <T>(urgent: boolean, task: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async (urgent, task) => {
    if (running < n) running++;
    else await new Promise<void>((resolve) => (urgent ? waiting.unshift(resolve) : waiting.push(resolve)));
    try {
      return await task();
    } finally {
      const next = waiting.shift();
      if (next === undefined) running--;
      else next();
    }
  };
}

function decode(v: string): string {
  try {
    return decodeURIComponent(v);
  } catch {
    throw new HttpError(400, "E_INVALID_ARGUMENT", "malformed percent-encoding in the path");
  }
}

function stackHref(factory: string, stack: string): string {
  return `/ui/stacks/${factoryPathSegment(factory)}/${seg(stack)}`;
}

function cookieToken(req: IncomingMessage): string | undefined {
  const header = req.headers.cookie;
  if (header === undefined) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq === -1 || part.slice(0, eq).trim() !== COOKIE_NAME) continue;
    const value = part.slice(eq + 1).trim();
    if (value === "") return undefined;
    try {
      return decodeURIComponent(value);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** A Terraform client's `Who`, when it says more than the holder's user@host. */
function lockWho(lock: LockInfo): Html | string {
  const who = lock.info?.Who;
  return typeof who === "string" && who !== "" && who !== `${lock.user}@${lock.host}`
    ? html`, client ${who}`
    : "";
}

function joinPath(base: string, path: string): string {
  return path.startsWith("[") ? `${base}${path}` : `${base}.${path}`;
}

/** A diff value as the CLI prints it: strings as they are, anything else as JSON. */
function shown(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

function methodNotAllowed(allow: string): HttpError {
  return new HttpError(405, "E_METHOD_NOT_ALLOWED", `use ${allow}`, { headers: { allow } });
}

function redirect(res: ServerResponse, location: string): undefined {
  send(res, 303, "", { location, "content-type": "text/plain; charset=utf-8" });
  return undefined;
}

function loginPage(error: string | undefined): Html {
  return html`<div class="login"><h1>Log in</h1>
${error === undefined ? "" : html`<div class="panel error" role="alert">${error}</div>`}
<form method="post" action="/ui/login">
<label for="token">API token</label>
<input type="password" id="token" name="token" autocomplete="current-password" required autofocus>
<button type="submit" class="primary">Log in</button>
</form>
<p class="muted">The token of <code>STATEKEEPER_SERVER_TOKEN</code> or one from the tokens file. It is kept in an HttpOnly cookie for this site only.</p></div>`;
}

function page(
  res: ServerResponse,
  status: number,
  title: string,
  body: Html,
  who: Principal | undefined,
): void {
  const doc = html`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · statekeeper</title>
<link rel="stylesheet" href="/ui/assets/ui.css">
<script src="/ui/assets/ui.js" defer></script>
</head><body>
<header class="top"><a class="brand" href="/ui/">statekeeper</a>${
    who === undefined
      ? ""
      : html`<span class="who">${who.name}</span><form method="post" action="/ui/logout"><button type="submit">Log out</button></form>`
  }</header>
<main>${body}</main>
</body></html>
`;
  send(res, status, doc.text, { "content-type": "text/html; charset=utf-8" });
}
