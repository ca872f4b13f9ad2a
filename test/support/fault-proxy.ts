// A small HTTP proxy on 127.0.0.1 in front of the S3 test server, driven by the tests to inject
// the faults real stores produce: conditions ignored, throttling, latency, and writes that are
// applied but whose response never arrives. Use path-style addressing through it (makeS3Store
// does). Every request is logged, so tests can assert how many attempts an operation took.
// Besides the scripted faults, `randomFaults` drops requests, drops responses and delays
// requests at random, for the chaos suite (test/chaos/).
import { createHash, createHmac } from "node:crypto";
import { createServer, type IncomingMessage, request, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

export interface RequestMatch {
  method?: string;
  /** Tested against the request path (with query), e.g. /\/lock(\?|$)/. */
  path?: RegExp;
  /** Only requests that carry (true) or lack (false) If-Match / If-None-Match. */
  conditional?: boolean;
}

export type InjectedError =
  | "slowdown"
  | "too-many-requests"
  | "internal-error"
  | "not-implemented"
  | "conflict";

export interface ProxiedRequest {
  method: string;
  path: string;
  /** The request headers as the client sent them (lower-case names). */
  headers: Record<string, string>;
  /** The status the client saw; undefined when the request or the response was dropped. */
  status: number | undefined;
  /**
   * `dropped-request`: the connection was cut before forwarding (the server never saw it);
   * `dropped-response`: forwarded and applied, then the connection was cut.
   */
  fault: InjectedError | "dropped-request" | "dropped-response" | "conditions-stripped" | undefined;
  /** How long `randomFaults` held the request before forwarding it (0 when not delayed). */
  delayedMs: number;
}

/**
 * Faults drawn at random for every matching request, each with its own probability (0–1). A
 * request is first maybe delayed, then maybe dropped before forwarding, else maybe forwarded and
 * its response dropped. Scripted faults (failNext, dropResponse, …) take precedence.
 */
export interface RandomFaults {
  /** Only requests matching this are affected (default: every request). */
  match?: RequestMatch;
  /** Cut the connection without forwarding: the client cannot know the request was never applied. */
  dropRequest?: number;
  /** Forward, let the server apply it, then cut the connection: the outcome is unknown to the client. */
  dropResponse?: number;
  /** Hold the request for a uniformly random time in `delayMs` before forwarding it. */
  delay?: number;
  delayMs?: { minMs: number; maxMs: number };
  /** Source of randomness in [0, 1); default Math.random. */
  random?: () => number;
}

/** How many requests the proxy saw and how many of them each kind of fault hit (since reset()). */
export interface FaultCounts {
  requests: number;
  droppedRequests: number;
  droppedResponses: number;
  delayed: number;
  injectedErrors: number;
}

export interface FaultProxy {
  /** Give this to the store as its endpoint. */
  readonly endpoint: string;
  readonly log: ProxiedRequest[];
  /**
   * Behave like a store that ignores If-None-Match / If-Match: the headers are removed and the
   * request re-signed (SigV4 signs them, so plain removal would fail with 403), and the server
   * applies the write unconditionally.
   */
  stripConditions: boolean;
  /**
   * Behave like a store that honours If-None-Match but ignores If-Match (AWS S3 between August and
   * November 2024): If-Match alone is removed and the request re-signed.
   */
  stripIfMatch: boolean;
  /** Added before forwarding each request: a uniformly random delay in [minMs, maxMs]. */
  latency: { minMs: number; maxMs: number } | undefined;
  /** Random drops and delays on every matching request until reset() (see RandomFaults). */
  randomFaults: RandomFaults | undefined;
  /** Requests received whose handling has not finished (held, forwarded, or awaiting upstream). */
  readonly inFlight: number;
  /** The next `count` matching requests are answered by the proxy with the error, not forwarded. */
  failNext(count: number, error?: InjectedError, match?: RequestMatch): void;
  /** Every `n`-th matching request (n, 2n, …) is answered with the error, until reset(). */
  failEvery(n: number, error?: InjectedError, match?: RequestMatch): void;
  /** The next `count` matching requests are forwarded and applied, then the connection is cut. */
  dropResponse(match: RequestMatch, count?: number): void;
  /** Requests in the log matching `match`. */
  count(match?: RequestMatch): number;
  /** Totals of requests and faults since the last reset(). */
  counts(): FaultCounts;
  /**
   * Resolves once no request is in flight: after its clients were killed, nothing the proxy still
   * holds can reach the server later (a delayed write landing after the history was read).
   */
  idle(): Promise<void>;
  /** Clears every fault and the log. */
  reset(): void;
  close(): Promise<void>;
}

const ERRORS: Record<InjectedError, { status: number; code: string }> = {
  slowdown: { status: 503, code: "SlowDown" },
  "too-many-requests": { status: 429, code: "TooManyRequests" },
  "internal-error": { status: 500, code: "InternalError" },
  "not-implemented": { status: 501, code: "NotImplemented" },
  // AWS's answer when a conflicting write lands while a conditional one is in flight.
  conflict: { status: 409, code: "ConditionalRequestConflict" },
};

const isConditional = (headers: Record<string, string>) =>
  "if-match" in headers || "if-none-match" in headers;

function matches(
  m: RequestMatch | undefined,
  e: Pick<ProxiedRequest, "method" | "path" | "headers">,
): boolean {
  if (m === undefined) return true;
  return (
    (m.method === undefined || m.method === e.method) &&
    (m.path === undefined || m.path.test(e.path)) &&
    (m.conditional === undefined || m.conditional === isConditional(e.headers))
  );
}

const hmac = (key: Buffer | string, data: string) => createHmac("sha256", key).update(data).digest();
const sha256hex = (data: string) => createHash("sha256").update(data).digest("hex");

/**
 * Re-signs a SigV4 request after `drop` headers were removed. The canonical request is rebuilt
 * from what the client sent (path and query as encoded, the signed headers, the payload hash
 * the client declared in x-amz-content-sha256).
 */
function resign(
  method: string,
  url: string,
  headers: Record<string, string>,
  drop: string[],
  secretAccessKey: string,
): Record<string, string> {
  const auth = headers.authorization ?? "";
  const m =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/([^,]+), ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]+)$/.exec(
      auth,
    );
  if (!m) throw new Error("fault proxy: cannot re-sign a request that is not SigV4-signed in the header");
  const [, accessKeyId, scope = "", signed = ""] = m;
  const [date = "", region = "", service = ""] = scope.split("/");
  const signedHeaders = signed.split(";").filter((h) => !drop.includes(h));
  const out = { ...headers };
  for (const h of drop) delete out[h];
  const [path = "/", query = ""] = url.split("?", 2);
  const canonicalQuery = query
    .split("&")
    .filter((p) => p !== "")
    .map((p) => (p.includes("=") ? p : `${p}=`))
    .sort()
    .join("&");
  const canonicalHeaders = signedHeaders
    .map((h) => `${h}:${(out[h] ?? "").trim().replace(/\s+/g, " ")}\n`)
    .join("");
  const canonicalRequest = [
    method,
    path,
    canonicalQuery,
    canonicalHeaders,
    signedHeaders.join(";"),
    out["x-amz-content-sha256"] ?? "UNSIGNED-PAYLOAD",
  ].join("\n");
  const stringToSign = ["AWS4-HMAC-SHA256", out["x-amz-date"] ?? "", scope, sha256hex(canonicalRequest)].join(
    "\n",
  );
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${secretAccessKey}`, date), region), service), "aws4_request");
  const signature = createHmac("sha256", signingKey).update(stringToSign).digest("hex");
  out.authorization = `AWS4-HMAC-SHA256 Credential=${accessKeyId}/${scope}, SignedHeaders=${signedHeaders.join(";")}, Signature=${signature}`;
  return out;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function answerError(res: ServerResponse, method: string, error: InjectedError): number {
  const { status, code } = ERRORS[error];
  const body =
    method === "HEAD"
      ? ""
      : `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>injected by the fault proxy</Message><RequestId>fault-proxy</RequestId></Error>`;
  res.writeHead(status, {
    "content-type": "application/xml",
    "content-length": Buffer.byteLength(body),
    ...(status === 503 || status === 429 ? { "retry-after": "0" } : {}),
  });
  res.end(body);
  return status;
}

/** Starts the proxy in front of `target` (the S3 endpoint). `secretAccessKey` is needed only for stripConditions. */
export async function startFaultProxy(opts: {
  target: string;
  secretAccessKey?: string;
}): Promise<FaultProxy> {
  const target = new URL(opts.target);
  let failures: {
    remaining: number;
    every: number;
    seen: number;
    error: InjectedError;
    match?: RequestMatch;
  }[] = [];
  let drops: { remaining: number; match: RequestMatch }[] = [];
  const log: ProxiedRequest[] = [];
  let inFlight = 0;
  let idleWaiters: (() => void)[] = [];

  const pickFailure = (e: ProxiedRequest): InjectedError | undefined => {
    for (const f of failures) {
      if (!matches(f.match, e)) continue;
      if (f.every > 0) {
        f.seen++;
        if (f.seen % f.every === 0) return f.error;
      } else if (f.remaining > 0) {
        f.remaining--;
        return f.error;
      }
    }
    return undefined;
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? "GET";
    const path = req.url ?? "/";
    const body = await readBody(req);
    let headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers))
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value;
    const entry: ProxiedRequest = {
      method,
      path,
      headers: { ...headers },
      status: undefined,
      fault: undefined,
      delayedMs: 0,
    };
    log.push(entry);
    if (proxy.latency !== undefined) {
      const { minMs, maxMs } = proxy.latency;
      await sleep(minMs + Math.random() * (maxMs - minMs));
    }
    const injected = pickFailure(entry);
    if (injected !== undefined) {
      entry.fault = injected;
      entry.status = answerError(res, method, injected);
      return;
    }
    const chance = proxy.randomFaults;
    const randomly = chance !== undefined && matches(chance.match, entry);
    const random = chance?.random ?? Math.random;
    if (randomly && random() < (chance.delay ?? 0)) {
      const { minMs, maxMs } = chance.delayMs ?? { minMs: 0, maxMs: 200 };
      entry.delayedMs = minMs + random() * (maxMs - minMs);
      await sleep(entry.delayedMs);
    }
    if (randomly && random() < (chance.dropRequest ?? 0)) {
      // Never forwarded: to the client this looks exactly like a response lost in transit.
      entry.fault = "dropped-request";
      req.socket.destroy();
      return;
    }
    if (proxy.stripConditions && isConditional(headers) && method !== "GET" && method !== "HEAD") {
      if (opts.secretAccessKey === undefined)
        throw new Error("fault proxy: stripConditions needs the secret access key to re-sign requests");
      headers = resign(method, path, headers, ["if-match", "if-none-match"], opts.secretAccessKey);
      entry.fault = "conditions-stripped";
    } else if (
      proxy.stripIfMatch &&
      headers["if-match"] !== undefined &&
      method !== "GET" &&
      method !== "HEAD"
    ) {
      if (opts.secretAccessKey === undefined)
        throw new Error("fault proxy: stripIfMatch needs the secret access key to re-sign requests");
      headers = resign(method, path, headers, ["if-match"], opts.secretAccessKey);
      entry.fault = "conditions-stripped";
    }
    const scripted = drops.find((d) => d.remaining > 0 && matches(d.match, entry));
    if (scripted !== undefined) scripted.remaining--;
    const drop = scripted !== undefined || (randomly && random() < (chance.dropResponse ?? 0));

    const upstream = request({
      host: target.hostname,
      port: target.port,
      method,
      path,
      headers: { ...headers, "content-length": String(body.byteLength) },
    });
    // Resolves once the server has answered (or failed): only then is the request no longer in
    // flight, whatever happened to the client's connection meanwhile.
    await new Promise<void>((resolve) => {
      upstream.on("response", async (up) => {
        try {
          const upBody = await readBody(up);
          if (drop) {
            // The server has applied the request; the client never learns the outcome.
            entry.fault = "dropped-response";
            req.socket.destroy();
            return;
          }
          entry.status = up.statusCode;
          res.writeHead(up.statusCode ?? 502, up.headers);
          res.end(upBody);
        } catch {
          req.socket.destroy();
        } finally {
          resolve();
        }
      });
      upstream.on("error", () => {
        req.socket.destroy();
        resolve();
      });
      upstream.end(body);
    });
  }

  const settled = () => {
    if (--inFlight > 0) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const resolve of waiters) resolve();
  };
  const server = createServer((req, res) => {
    inFlight++;
    handle(req, res)
      .catch(() => req.socket.destroy())
      .finally(settled);
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  const proxy: FaultProxy = {
    endpoint: `http://127.0.0.1:${port}`,
    log,
    stripConditions: false,
    stripIfMatch: false,
    latency: undefined,
    randomFaults: undefined,
    get inFlight() {
      return inFlight;
    },
    failNext(count, error = "slowdown", match) {
      failures.push({ remaining: count, every: 0, seen: 0, error, ...(match ? { match } : {}) });
    },
    failEvery(n, error = "slowdown", match) {
      failures.push({ remaining: 0, every: n, seen: 0, error, ...(match ? { match } : {}) });
    },
    dropResponse(match, count = 1) {
      drops.push({ remaining: count, match });
    },
    count(match) {
      return log.filter((e) => matches(match, e)).length;
    },
    counts() {
      const c: FaultCounts = {
        requests: log.length,
        droppedRequests: 0,
        droppedResponses: 0,
        delayed: 0,
        injectedErrors: 0,
      };
      for (const e of log) {
        if (e.fault === "dropped-request") c.droppedRequests++;
        else if (e.fault === "dropped-response") c.droppedResponses++;
        else if (e.fault !== undefined && e.fault !== "conditions-stripped") c.injectedErrors++;
        if (e.delayedMs > 0) c.delayed++;
      }
      return c;
    },
    idle() {
      if (inFlight === 0) return Promise.resolve();
      return new Promise<void>((resolve) => idleWaiters.push(resolve));
    },
    reset() {
      failures = [];
      drops = [];
      log.length = 0;
      proxy.stripConditions = false;
      proxy.stripIfMatch = false;
      proxy.latency = undefined;
      proxy.randomFaults = undefined;
    },
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}
