/**
 * Terraform's and OpenTofu's `http` backend protocol over statekeeper stacks: every state at
 * `/tf/<factory>/<stack>` is a stack, every accepted update a revision that keeps the body byte
 * for byte, every client lock a stack lock without a lease (state, not server memory), and
 * every write fenced (docs/server.md).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { type Backend, createBackend, type HeadMode, type LockInfo, validateName } from "../backend/index.js";
import type { Encrypter } from "../crypto/types.js";
import { hasErrorCode, isStateKeeperError, type LockHolder, StateKeeperError } from "../errors.js";
import type { ObjectStore } from "../objectstore/types.js";
import {
  documentSnapshot,
  parseTerraformState,
  type Snapshot,
  TERRAFORM_STATE_MEDIA_TYPE,
  type TerraformStateHeader,
} from "../snapshot/index.js";
import type { Authenticator, Principal, Scope } from "./auth.js";
import {
  factoryOfPathSegment,
  HttpError,
  jsonObject,
  type RequestUrl,
  readBody,
  send,
  sendJson,
  utf8Text,
} from "./http.js";

export interface TerraformRoutesOptions {
  store: ObjectStore;
  encrypter: Encrypter;
  auth: Authenticator;
  /** Request bodies over this many bytes are refused (413). */
  maxBodyBytes: number;
  /** A client lock older than this (by this server's clock) may be broken by the next LOCK. */
  lockTtlMs?: number | undefined;
  /** The head a stack gets when a client's first request creates it. Default: the backend's. */
  head?: HeadMode | undefined;
}

/** What one request is about, after routing: the stack and which resource of it. */
interface Route {
  factory: string;
  stack: string;
  what: "state" | "lock" | "versions" | "version";
  rev?: string;
}

/** Terraform's LockInfo with its Go field names (internal/states/statemgr/locker.go). */
interface TerraformLockInfo {
  ID: string;
  Operation: string;
  Info: string;
  Who: string;
  Version: string;
  Created: string;
  Path: string;
}

/** Largest LOCK/UNLOCK body read (a LockInfo is a few hundred bytes). */
const MAX_LOCK_BODY_BYTES = 64 * 1024;

const LOCK_INFO_FIELDS = ["Operation", "Info", "Who", "Version", "Created", "Path"] as const;

/**
 * Parses `/tf/<factory>/<stack>[/lock | /versions[/<rev>]]`; names are checked before any I/O (400).
 * A factory with `/` is one segment, percent-encoded or in its key form (`factoryOfPathSegment`).
 */
export function routeOf(pathname: string): Route | undefined {
  const parts = pathname.split("/");
  if (parts[0] !== "" || parts[1] !== "tf") return undefined;
  const [, , factory, stack, sub, rev, ...rest] = parts;
  if (factory === undefined || stack === undefined || rest.length > 0) return undefined;
  const name = (kind: "stack", value: string) => {
    try {
      return validateName(kind, value);
    } catch (e) {
      if (isStateKeeperError(e)) throw new HttpError(400, e.code, e.message);
      throw e;
    }
  };
  const route = { factory: factoryOfPathSegment(factory), stack: name("stack", stack) };
  if (sub === undefined) return { ...route, what: "state" };
  if (sub === "lock" && rev === undefined) return { ...route, what: "lock" };
  if (sub === "versions" && rev === undefined) return { ...route, what: "versions" };
  if (sub === "versions" && rev !== undefined && rev !== "") {
    let decoded: string;
    try {
      decoded = decodeURIComponent(rev);
    } catch {
      throw new HttpError(
        400,
        "E_INVALID_ARGUMENT",
        "the revision in the path is not valid percent-encoding",
      );
    }
    return { ...route, what: "version", rev: decoded };
  }
  return undefined;
}

/** Methods each resource answers; anything else is 405 with `Allow`. */
const METHODS: Record<Route["what"], readonly string[]> = {
  state: ["GET", "POST", "PUT", "LOCK", "UNLOCK"],
  lock: ["POST", "PUT", "DELETE", "LOCK", "UNLOCK"],
  versions: ["GET"],
  version: ["GET"],
};

/** The scope each request needs. */
function scopeOf(route: Route, method: string): Scope {
  if (route.what === "versions" || route.what === "version" || method === "GET") return "read";
  if (route.what === "lock" || method === "LOCK" || method === "UNLOCK") return "lock";
  return "write";
}

function toLockInfo(body: Record<string, unknown>): TerraformLockInfo {
  const id = body.ID;
  if (typeof id !== "string" || id === "" || id.length > 200)
    throw new HttpError(
      400,
      "E_INVALID_ARGUMENT",
      "lock info must carry an ID: a non-empty string of at most 200 characters",
    );
  const info = { ID: id } as TerraformLockInfo;
  for (const field of LOCK_INFO_FIELDS) {
    const value = body[field] ?? "";
    if (typeof value !== "string" || value.length > 4096)
      throw new HttpError(
        400,
        "E_INVALID_ARGUMENT",
        `lock info field ${field} must be a string of at most 4096 characters`,
      );
    info[field] = value;
  }
  return info;
}

/** The LockInfo a Terraform client shows for whoever holds the stack's lock (a CLI or engine lock too). */
function terraformLockInfoOf(lock: LockInfo | LockHolder): TerraformLockInfo {
  const stored = "info" in lock ? lock.info : undefined;
  if (stored !== undefined && stored.ID === lock.id) {
    try {
      return toLockInfo(stored);
    } catch {
      // A lock info that no longer reads: describe the holder instead.
    }
  }
  return {
    ID: lock.id,
    Operation: lock.operation,
    Info: "held through statekeeper",
    Who: `${lock.user}@${lock.host}`,
    Version: "",
    Created: lock.since,
    Path: "",
  };
}

function locked(message: string, holder: LockInfo | LockHolder): HttpError {
  // Terraform parses a 423's body as the holder's LockInfo to print who holds it.
  return new HttpError(423, "E_LOCKED", message, { body: { ...terraformLockInfoOf(holder) } });
}

/** Who the stored lock says, for a refusal: the lock object, or the holder in the error. */
async function holderOfLocked(backend: Backend, e: unknown): Promise<LockInfo | LockHolder | undefined> {
  const now = await backend.lockInfo().catch(() => undefined);
  if (now !== undefined) return now;
  return e instanceof StateKeeperError && "holder" in e ? (e.holder as LockHolder | undefined) : undefined;
}

/** Splits Terraform's `Who` ("user@host") into the lock holder's user and host. */
function holderFromWho(who: string): { user: string; host: string; pid: number } {
  const at = who.lastIndexOf("@");
  if (at <= 0) return { user: who === "" ? "terraform" : who, host: "unknown", pid: 0 };
  return { user: who.slice(0, at), host: who.slice(at + 1), pid: 0 };
}

/** The Terraform state in `snapshot`, or 409 when the stack keeps statekeeper snapshots. */
function terraformText(backend: Backend, snapshot: Snapshot): string {
  const doc = snapshot.document;
  if (doc === undefined || doc.mediaType !== TERRAFORM_STATE_MEDIA_TYPE)
    throw new HttpError(
      409,
      "E_CONFLICT",
      `${backend.factory}/${backend.stack} holds statekeeper snapshots, not a Terraform state: refusing to serve or replace it`,
    );
  return doc.text;
}

/** The current state's text, verified against `current`; undefined when the stack has none. */
async function currentText(backend: Backend): Promise<string | undefined> {
  try {
    return terraformText(backend, await backend.current());
  } catch (e) {
    if (hasErrorCode(e, "E_NO_CURRENT")) return undefined;
    throw e;
  }
}

/** Handles one request under `/tf/`; false when the path is not one of ours. */
export function terraformRoutes(options: TerraformRoutesOptions) {
  const { store, encrypter, auth } = options;
  const backendFor = (route: Route) =>
    createBackend(store, {
      factory: route.factory,
      stack: route.stack,
      encrypter,
      ...(options.head === undefined ? {} : { head: options.head }),
    });

  return async function handle(
    req: IncomingMessage,
    res: ServerResponse,
    url: RequestUrl,
    principal: Principal,
  ): Promise<boolean> {
    const route = routeOf(url.pathname);
    if (route === undefined) return false;
    const method = req.method ?? "GET";
    const allowed = METHODS[route.what];
    if (!allowed.includes(method))
      throw new HttpError(405, "E_METHOD_NOT_ALLOWED", `${method} is not allowed on ${url.pathname}`, {
        headers: { allow: allowed.join(", ") },
      });
    const scope = scopeOf(route, method);
    if (!auth.allows(principal, scope, route.factory, route.stack))
      throw new HttpError(
        403,
        "E_AUTH",
        `${principal.name} may not ${scope} ${route.factory}/${route.stack}`,
      );
    const backend = backendFor(route);

    if (route.what === "versions") {
      sendJson(res, 200, await versions(backend));
      return true;
    }
    if (route.what === "version") {
      const snapshot = await backend.get(route.rev as string);
      if (snapshot.document === undefined)
        throw new HttpError(
          409,
          "E_CONFLICT",
          `revision ${route.rev} is a statekeeper snapshot, not a Terraform state`,
        );
      send(res, 200, snapshot.document.text);
      return true;
    }
    if (method === "GET") {
      const text = await currentText(backend);
      if (text === undefined) send(res, 204, undefined);
      else send(res, 200, text);
      return true;
    }
    const isLock = method === "LOCK" || (route.what === "lock" && (method === "POST" || method === "PUT"));
    const isUnlock = method === "UNLOCK" || (route.what === "lock" && method === "DELETE");
    const force = url.searchParams.get("force") === "true";
    if (force && !auth.allows(principal, "admin", route.factory, route.stack))
      throw new HttpError(
        403,
        "E_AUTH",
        `${principal.name} may not force a write to ${route.factory}/${route.stack} (needs admin)`,
      );
    // A LockInfo is a few hundred bytes: a lock request never needs the state-sized limit.
    const body = await readBody(
      req,
      isLock || isUnlock ? Math.min(MAX_LOCK_BODY_BYTES, options.maxBodyBytes) : options.maxBodyBytes,
    );
    if (isLock) await lock(res, backend, body.bytes);
    else if (isUnlock) await unlock(res, backend, body.bytes);
    else await update(res, backend, body.bytes, url.searchParams.get("ID") ?? undefined, force);
    return true;
  };

  async function lock(res: ServerResponse, backend: Backend, bytes: Uint8Array): Promise<void> {
    const info = toLockInfo(jsonObject(bytes, "lock info"));
    const take = () =>
      backend.lock({
        id: info.ID,
        leaseMs: null,
        wait: false,
        operation: info.Operation === "" ? "terraform" : info.Operation.slice(0, 200),
        holder: holderFromWho(info.Who),
        info: { ...info },
      });
    try {
      await take();
    } catch (e) {
      if (!hasErrorCode(e, "E_LOCKED")) throw e;
      const holder = await holderOfLocked(backend, e);
      if (holder !== undefined && expired(holder)) {
        // Abandoned past --lock-ttl: break exactly that lock (not one taken meanwhile), then take it.
        await backend.forceUnlock({ id: holder.id }).catch(() => undefined);
        try {
          await take();
          return sendJson(res, 200, info);
        } catch (again) {
          if (!hasErrorCode(again, "E_LOCKED")) throw again;
        }
      }
      // Only a lock broken for its age can have been replaced since it was read.
      const now =
        holder !== undefined && expired(holder) ? ((await holderOfLocked(backend, e)) ?? holder) : holder;
      if (now === undefined) throw e;
      throw locked(`${backend.factory}/${backend.stack} is locked by ${terraformLockInfoOf(now).Who}`, now);
    }
    sendJson(res, 200, info);
  }

  function expired(holder: LockInfo | LockHolder): boolean {
    if (options.lockTtlMs === undefined) return false;
    if ("leaseMs" in holder && holder.leaseMs > 0) return false;
    const since = Date.parse(holder.since);
    return Number.isFinite(since) && Date.now() - since > options.lockTtlMs;
  }

  async function unlock(res: ServerResponse, backend: Backend, bytes: Uint8Array): Promise<void> {
    // Terraform's force-unlock sends no lock info (hashicorp/terraform#28421): remove whatever
    // lock is there. OpenTofu's sends the ID alone, which removes that lock like any unlock.
    const id = bytes.byteLength === 0 ? undefined : toLockInfo(jsonObject(bytes, "lock info")).ID;
    try {
      const was = await backend.forceUnlock(id === undefined ? {} : { id });
      sendJson(res, 200, was === undefined ? {} : terraformLockInfoOf(was));
    } catch (e) {
      if (!hasErrorCode(e, "E_LOCKED")) throw e;
      const holder = await holderOfLocked(backend, e);
      if (holder === undefined) throw e;
      throw locked(
        `${backend.factory}/${backend.stack} is locked by another lock (${holder.id}), not ${id}`,
        holder,
      );
    }
  }

  async function update(
    res: ServerResponse,
    backend: Backend,
    bytes: Uint8Array,
    lockId: string | undefined,
    force: boolean,
  ): Promise<void> {
    if (bytes.byteLength === 0)
      throw new HttpError(
        400,
        "E_INVALID_ARGUMENT",
        "an update needs the state as its body; the body is empty",
      );
    const text = utf8Text(bytes, "the state");
    let header: TerraformStateHeader;
    try {
      header = parseTerraformState(text);
    } catch (e) {
      if (isStateKeeperError(e)) throw new HttpError(400, e.code, e.message);
      throw e;
    }
    const name = `${backend.factory}/${backend.stack}`;
    let held: Awaited<ReturnType<Backend["resumeLock"]>> | undefined;
    if (lockId !== undefined) {
      try {
        held = await backend.resumeLock(lockId);
      } catch (e) {
        if (hasErrorCode(e, "E_LOCKED")) {
          const holder = await holderOfLocked(backend, e);
          if (holder !== undefined)
            throw locked(
              `refusing the update: ${name} is locked by another lock (${holder.id}), not ${lockId}`,
              holder,
            );
        }
        if (hasErrorCode(e, "E_LOCK_LOST"))
          throw new HttpError(
            409,
            "E_LOCK_LOST",
            `refusing the update: lock ${lockId} no longer holds ${name} (it was unlocked, force-unlocked or expired); ` +
              "a writer that lost its lock must not overwrite what others wrote since",
          );
        throw e;
      }
    }
    // Read before the lock check: a lock taken after this read fences `current`, so the commit
    // below, compare-and-swapped against this read, fails instead of landing under it. The
    // revision is opened once here; the commit's own check that it opens then needs no fetch.
    const stored = await currentText(backend);
    if (held === undefined) {
      const holder = await backend.lockInfo();
      if (holder !== undefined)
        throw locked(
          `refusing the update: ${name} is locked by ${terraformLockInfoOf(holder).Who} and the update names no lock ID`,
          holder,
        );
    }
    if (stored !== undefined) {
      if (stored === text) return sendJson(res, 200, { serial: header.serial, unchanged: true });
      if (!force) refuseStale(name, parseTerraformState(stored), header);
    }
    const snapshot = documentSnapshot(
      { name: backend.factory, version: header.terraformVersion ?? "", contentRevision: "" },
      backend.stack,
      { mediaType: TERRAFORM_STATE_MEDIA_TYPE, text },
    );
    let rev: string;
    try {
      // The revision names the client that holds the lock (its LockInfo's Who), not this server.
      rev = await backend.commit(
        snapshot,
        held === undefined ? {} : { author: `${held.holder.user}@${held.holder.host}` },
      );
    } catch (e) {
      if (!hasErrorCode(e, "E_FENCED", "E_LOCK_LOST")) throw e;
      // The same update may have landed through another request (a client's retry): then it is done.
      if ((await currentText(backend).catch(() => undefined)) === text)
        return sendJson(res, 200, { serial: header.serial, unchanged: true });
      throw e;
    }
    sendJson(res, 200, { rev, serial: header.serial });
  }
}

/** Refuses a body that is not the next state of the stored one (409 with why), unless forced. */
function refuseStale(name: string, stored: TerraformStateHeader, next: TerraformStateHeader): void {
  const conflict = (why: string) =>
    new HttpError(
      409,
      "E_CONFLICT",
      `refusing the update to ${name}: ${why} (an admin may force it with ?force=true)`,
      {
        body: {
          stored: { lineage: stored.lineage, serial: stored.serial },
          sent: { lineage: next.lineage, serial: next.serial },
        },
      },
    );
  if (next.lineage !== stored.lineage)
    throw conflict(
      `its lineage ${next.lineage} differs from the stored state's ${stored.lineage}: it is another state`,
    );
  if (next.serial < stored.serial)
    throw conflict(
      `its serial ${next.serial} is older than the stored state's ${stored.serial}: a stale writer`,
    );
  if (next.serial === stored.serial)
    throw conflict(`its serial ${next.serial} equals the stored state's, with different content`);
}

/** `GET …/versions`: every revision, newest first, with the current one marked. */
async function versions(backend: Backend): Promise<unknown> {
  const history = await backend.history();
  return {
    factory: backend.factory,
    stack: backend.stack,
    current: history.current,
    versions: history.revisions
      .map((r) => ({
        rev: r.rev,
        size: r.size,
        current: r.current,
        lastModified: r.lastModified?.toISOString() ?? null,
      }))
      .reverse(),
  };
}
