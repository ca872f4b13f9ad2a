/**
 * `statekeeper serve`: an HTTP server over node:http (or node:https) with authentication,
 * request ids, an access log line per request, and a shutdown that lets in-flight requests finish.
 */
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";

import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import type { HeadMode } from "../backend/index.js";
import type { Encrypter } from "../crypto/types.js";
import type { ObjectStore } from "../objectstore/types.js";
import { VERSION } from "../version.js";
import type { Authenticator, Principal } from "./auth.js";
import {
  HttpError,
  type RequestUrl,
  requestIdOf,
  requestUrl,
  sendError,
  sendJson,
  statusFor,
} from "./http.js";
import { terraformRoutes } from "./terraform.js";
import { type UiTuning, uiRoutes } from "./ui/routes.js";

/** Default cap on a request body: Terraform states of 100 MB exist (hashicorp/terraform#35822). */
export const DEFAULT_MAX_BODY_BYTES = 256 * 1024 * 1024;

export interface StateServerOptions {
  store: ObjectStore;
  encrypter: Encrypter;
  auth: Authenticator;
  maxBodyBytes?: number;
  lockTtlMs?: number | undefined;
  /** PEM certificate and key: serve HTTPS. With `clientCa`, every client must present a certificate it signed. */
  tls?: { cert: Buffer; key: Buffer; clientCa?: Buffer | undefined } | undefined;
  /** One line per request (JSON); default: none. Never given a credential or a body. */
  accessLog?: ((line: AccessLogLine) => void) | undefined;
  /** Unexpected errors (a bug, a store failure), with the request id; default: none. */
  onError?: ((e: unknown, requestId: string) => void) | undefined;
  /** The web view's tuning (entry-count wait, login failure limit); defaults suit a server. */
  ui?: UiTuning | undefined;
  /** The head a stack gets when a client's first request creates it (`BackendOptions.head`). */
  head?: HeadMode | undefined;
}

export interface AccessLogLine {
  time: string;
  id: string;
  remote: string;
  method: string;
  /** The path only: query strings carry lock ids. */
  path: string;
  status: number;
  ms: number;
  bytesIn: number;
  bytesOut: number;
  principal: string | null;
}

export interface StateServer {
  readonly server: Server;
  /** Starts listening; resolves with the address actually bound (port 0 picks a free one). */
  listen(host: string, port: number): Promise<AddressInfo>;
  /** Stops accepting connections and resolves once every in-flight request has been answered. */
  close(timeoutMs?: number): Promise<void>;
}

/** How long a client answered before its body was read may go on sending it. */
const LINGER_MS = 5_000;

/**
 * After answering a request before its body was read (401, 403, 413…): reads and drops the rest
 * of the body, and drops the connection if the body is still coming after LINGER_MS. Destroying
 * the socket at once made the kernel answer the client's next bytes with a reset, and a reset
 * discards what the client has not read yet — the answer: clients saw "connection reset"
 * instead of the refusal. A body that ends in time leaves the connection usable.
 */
function discardRestOfBody(req: IncomingMessage): void {
  // A request destroyed meanwhile (the client went away) has no socket left.
  const socket = req.socket as Socket | null;
  if (req.complete || socket === null || socket.destroyed) return;
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  req.once("end", () => clearTimeout(timer));
  req.resume();
}

export function createStateServer(options: StateServerOptions): StateServer {
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const tf = terraformRoutes({
    store: options.store,
    encrypter: options.encrypter,
    auth: options.auth,
    maxBodyBytes,
    lockTtlMs: options.lockTtlMs,
    head: options.head,
  });
  const ui = uiRoutes({
    store: options.store,
    encrypter: options.encrypter,
    auth: options.auth,
    tls: options.tls !== undefined,
    onError: options.onError,
    tuning: options.ui,
  });
  let inFlight = 0;
  let drained: (() => void) | undefined;

  async function route(
    req: IncomingMessage,
    res: ServerResponse,
    url: RequestUrl,
  ): Promise<Principal | undefined> {
    if (url.pathname === "/healthz" && req.method === "GET") {
      sendJson(res, 200, { ok: true, version: VERSION });
      return undefined;
    }
    // The web view answers with pages (login, redirects) rather than API errors.
    if (url.pathname === "/ui" || url.pathname.startsWith("/ui/")) return ui(req, res, url);
    const principal = options.auth.authenticate(req.headers.authorization);
    if (principal === undefined)
      throw new HttpError(
        401,
        "E_AUTH",
        "missing or invalid credentials: send a token as Bearer or as the basic-auth password",
        {
          headers: { "www-authenticate": 'Basic realm="statekeeper", charset="UTF-8"' },
        },
      );
    if (await tf(req, res, url, principal)) return principal;
    throw new HttpError(
      404,
      "E_NOT_FOUND",
      `no such resource: ${url.pathname} (states live at /tf/<factory>/<stack>)`,
    );
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const id = requestIdOf(req);
    res.setHeader("x-request-id", id);
    res.setHeader("cache-control", "no-store");
    inFlight++;
    let principal: Principal | undefined;
    let status = 500;
    let bytesIn = 0;
    req.on("data", (chunk: Buffer) => {
      bytesIn += chunk.byteLength;
    });
    let path = "/";
    // Read now: a request destroyed later (a client gone) no longer has a socket.
    const remote = req.socket.remoteAddress ?? "";
    try {
      const url = requestUrl(req.url ?? "/");
      path = url.pathname;
      principal = await route(req, res, url);
      status = res.statusCode;
    } catch (e) {
      status = statusFor(e);
      if (status >= 500 && !(e instanceof HttpError)) options.onError?.(e, id);
      sendError(res, e, id);
      // A refused body may still be streaming in: drop it, for a while, then the connection.
      if (!req.complete) res.once("finish", () => discardRestOfBody(req));
    } finally {
      options.accessLog?.({
        time: new Date().toISOString(),
        id,
        remote,
        method: req.method ?? "",
        path: path.slice(0, 300),
        status,
        ms: Math.round((performance.now() - started) * 10) / 10,
        bytesIn,
        bytesOut: Number(res.getHeader("content-length") ?? 0),
        principal: principal?.name ?? null,
      });
      if (--inFlight === 0) drained?.();
    }
  }

  const listener = (req: IncomingMessage, res: ServerResponse) => void handle(req, res);
  const server: Server =
    options.tls === undefined
      ? createHttpServer(listener)
      : (createHttpsServer(
          {
            cert: options.tls.cert,
            key: options.tls.key,
            ...(options.tls.clientCa === undefined
              ? {}
              : { ca: options.tls.clientCa, requestCert: true, rejectUnauthorized: true }),
          },
          listener,
        ) as unknown as Server);
  // Bodies can be large and slow; a connection idle this long without a full request is dropped.
  server.requestTimeout = 10 * 60_000;
  server.headersTimeout = 60_000;

  return {
    server,
    listen(host, port) {
      return new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => {
          server.off("error", reject);
          resolve(server.address() as AddressInfo);
        });
      });
    },
    close(timeoutMs = 30_000) {
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        const done = () => {
          server.closeAllConnections();
          resolve();
        };
        if (inFlight === 0) return done();
        drained = done;
        setTimeout(done, timeoutMs).unref();
      });
    },
  };
}
