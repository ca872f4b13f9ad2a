/**
 * The HTTP plumbing of `statekeeper serve` over node:http: one status per error kind, request
 * bodies read once under a size cap with their Content-MD5 checked, request ids, JSON answers.
 */
import { createHash, randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { factoryKey, factoryOfKey, validateFactoryName } from "../backend/names.js";
import { type ErrorKind, errorKind, isStateKeeperError } from "../errors.js";

/** An answer decided by the server itself (not a statekeeper error): status, message, extra body fields. */
export class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly body: Record<string, unknown> | undefined;
  readonly headers: Record<string, string>;
  constructor(
    status: number,
    code: string,
    message: string,
    options: { body?: Record<string, unknown>; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = options.body;
    this.headers = options.headers ?? {};
  }
}

/** The one place a statekeeper error becomes an HTTP status: by its kind (src/errors.ts). */
const STATUS_BY_KIND: Readonly<Record<ErrorKind, number>> = {
  invalid: 400,
  "not-found": 404,
  locked: 423,
  conflict: 409,
  integrity: 500,
  unavailable: 503,
  auth: 401,
  internal: 500,
};

export function statusFor(e: unknown): number {
  if (e instanceof HttpError) return e.status;
  if (isStateKeeperError(e) && e.code === "E_TOO_LARGE") return 413;
  return STATUS_BY_KIND[errorKind(e)];
}

const CLIENT_REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** The client's `X-Request-Id` when it is a plain token, else a fresh one. */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers["x-request-id"];
  if (typeof given === "string" && CLIENT_REQUEST_ID.test(given)) return given;
  return randomBytes(9).toString("base64url");
}

/** A request's path exactly as sent (not normalised: `/tf/a/..` must be refused, not resolved) and its query. */
export interface RequestUrl {
  pathname: string;
  searchParams: URLSearchParams;
}

export function requestUrl(raw: string): RequestUrl {
  const q = raw.indexOf("?");
  return {
    pathname: q === -1 ? raw : raw.slice(0, q),
    searchParams: new URLSearchParams(q === -1 ? "" : raw.slice(q + 1)),
  };
}

/** A request body, read once, with its MD5 (for Content-MD5) computed on the way. */
export interface Body {
  bytes: Buffer;
  md5: Buffer;
}

/**
 * Reads the body under `maxBytes`: a declared Content-Length over the cap is refused before
 * anything is read, a stream that grows past it as soon as it does (413). A `Content-MD5` that is
 * not the base64 MD5 of the body is 400. Chunks are kept as they arrive and joined once.
 */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<Body> {
  const tooLarge = () =>
    new HttpError(413, "E_TOO_LARGE", `request body is over the server's limit of ${maxBytes} bytes`);
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) > maxBytes) throw tooLarge();
  const md5 = createHash("md5");
  const chunks: Buffer[] = [];
  let size = 0;
  // Not destroyed when refused half-way (413): the answer still has to go out on its socket.
  for await (const chunk of req.iterator({ destroyOnReturn: false })) {
    const b = chunk as Buffer;
    size += b.byteLength;
    if (size > maxBytes) throw tooLarge();
    md5.update(b);
    chunks.push(b);
  }
  const body = {
    bytes: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size),
    md5: md5.digest(),
  };
  const claimed = req.headers["content-md5"];
  if (typeof claimed === "string" && claimed !== "") {
    const expected = Buffer.from(claimed, "base64");
    if (expected.byteLength !== 16 || !expected.equals(body.md5))
      throw new HttpError(400, "E_INVALID_ARGUMENT", "Content-MD5 does not match the request body");
  }
  return body;
}

/** The body as UTF-8 text; anything else is 400 (state is JSON, and JSON is UTF-8). */
export function utf8Text(bytes: Uint8Array, what: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new HttpError(400, "E_INVALID_ARGUMENT", `${what} is not valid UTF-8`);
  }
}

/** Parses a small JSON body (a LockInfo): not JSON or not an object is 400. */
export function jsonObject(bytes: Uint8Array, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(utf8Text(bytes, what));
  } catch (e) {
    if (e instanceof HttpError) throw e;
    // The parser's message quotes the input: keep it out.
    throw new HttpError(400, "E_INVALID_ARGUMENT", `${what} is not valid JSON`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new HttpError(400, "E_INVALID_ARGUMENT", `${what} must be a JSON object`);
  return value as Record<string, unknown>;
}

/** Sends `body` with Content-Length and, for a payload, its Content-MD5 (the Terraform client checks it). */
export function send(
  res: ServerResponse,
  status: number,
  body: Uint8Array | string | undefined,
  headers: Record<string, string> = {},
): void {
  const bytes = body === undefined ? undefined : typeof body === "string" ? Buffer.from(body, "utf8") : body;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  if (bytes !== undefined && status !== 204) {
    res.setHeader("content-length", bytes.byteLength);
    res.setHeader("content-md5", createHash("md5").update(bytes).digest("base64"));
    if (!res.hasHeader("content-type")) res.setHeader("content-type", "application/json");
  }
  res.writeHead(status);
  res.end(status === 204 ? undefined : bytes);
}

export function sendJson(
  res: ServerResponse,
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
): void {
  send(res, status, `${JSON.stringify(value, null, 2)}\n`, headers);
}

/** `{error: {code, message}, requestId, …extra}`: how every refusal reads. */
export function sendError(res: ServerResponse, e: unknown, requestId: string): number {
  const status = statusFor(e);
  const code = e instanceof HttpError ? e.code : isStateKeeperError(e) ? e.code : "E_INTERNAL";
  // Unexpected errors are not described to the client: their messages were not written for it.
  const message =
    e instanceof HttpError || isStateKeeperError(e) ? e.message : "internal error (see the server's log)";
  const extra = e instanceof HttpError ? e.body : undefined;
  const headers = e instanceof HttpError ? e.headers : {};
  if (!res.headersSent) sendJson(res, status, { error: { code, message }, requestId, ...extra }, headers);
  else res.destroy();
  return status;
}

/**
 * The factory a URL path segment names (`/tf/<factory>/…`, `/ui/stacks/<factory>/…`): the name
 * percent-encoded into one segment (`github.com%2Facme%2Fwebshop`) or its store-key form
 * (`github.com~acme~webshop`, which no proxy decodes), both the same factory; not a mix of the two
 * (`a%2Fb~c` is refused: `~` is no name character). A malformed escape or an invalid name is a
 * 400 before any I/O.
 */
export function factoryOfPathSegment(segment: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, "E_INVALID_ARGUMENT", "malformed percent-encoding in the factory path segment");
  }
  try {
    return decoded.includes("/") ? validateFactoryName(decoded) : factoryOfKey(decoded);
  } catch (e) {
    if (isStateKeeperError(e)) throw new HttpError(400, e.code, e.message);
    throw e;
  }
}

/** The path segment of a factory in the links the server writes: its store-key form (see `factoryOfPathSegment`). */
export function factoryPathSegment(factory: string): string {
  return encodeURIComponent(factoryKey(factory));
}
