// Replays what Terraform's and OpenTofu's `http` backend clients send, request by request, as
// their sources do it (hashicorp/terraform and opentofu/opentofu,
// internal/backend/remote-state/http/client.go): every body with Content-Type application/json,
// Content-Length and a base64 Content-MD5; basic auth with the token as password; `?ID=<lock id>`
// on updates while a lock is held; LockInfo with Go's field names.
import { createHash, randomUUID } from "node:crypto";
import { type ClientRequest, request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";

export interface TfResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text: string;
}

export interface TfClientOptions {
  address: string;
  lockAddress?: string;
  unlockAddress?: string;
  updateMethod?: string;
  lockMethod?: string;
  unlockMethod?: string;
  username?: string;
  password?: string;
  /** OpenTofu's unlock sends the stored lock info as is; Terraform re-marshals it with the ID. */
  flavour?: "terraform" | "opentofu";
  who?: string;
}

/** Go's `statemgr.LockInfo`, marshalled as Go does it (field order as declared, no tags). */
export interface LockInfo {
  ID: string;
  Operation: string;
  Info: string;
  Who: string;
  Version: string;
  Created: string;
  Path: string;
}

export function lockInfo(operation: string, who = "alice@laptop", id = randomUUID()): LockInfo {
  return {
    ID: id,
    Operation: operation,
    Info: "",
    Who: who,
    Version: "1.9.5",
    Created: new Date().toISOString().replace(/\.(\d{3})Z$/, ".$1123Z"),
    Path: "",
  };
}

/** What a client trusts and presents over https: a CA for the server, a certificate and key of its own. */
export interface ClientTls {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

interface Target {
  method: string;
  url: string;
  headers: Record<string, string | number>;
  tls?: ClientTls | undefined;
}

const ignore = () => undefined;

/** Sends the request line and headers (http or https; the path exactly as given); the caller writes the body. */
function open(target: Target): { req: ClientRequest; response: Promise<TfResponse> } {
  // The path is sent exactly as given (a URL object would normalise `..` away).
  const m = /^(https?):\/\/([^/:]+):(\d+)(\/.*)?$/.exec(target.url);
  if (m === null) throw new Error(`not an http(s)://host:port/… URL: ${target.url}`);
  const options = {
    host: m[2],
    port: Number(m[3]),
    path: m[4] ?? "/",
    method: target.method,
    headers: target.headers,
  };
  let settle: { resolve: (r: TfResponse) => void; reject: (e: unknown) => void } | undefined;
  const response = new Promise<TfResponse>((resolve, reject) => {
    settle = { resolve, reject };
  });
  const onResponse = (res: IncomingMessage) => {
    const chunks: Buffer[] = [];
    res.on("data", (c: Buffer) => chunks.push(c));
    res.on("end", () => {
      const body = Buffer.concat(chunks);
      settle?.resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        body,
        text: body.toString("utf8"),
      });
    });
    res.on("error", (e) => settle?.reject(e));
  };
  const req =
    m[1] === "https"
      ? httpsRequest({ ...options, ...(target.tls ?? {}) }, onResponse)
      : httpRequest(options, onResponse);
  req.on("error", (e) => settle?.reject(e));
  // A server may answer before it read the whole body (401, 413) and close: the socket's late
  // write errors, after the answer, are not this request's.
  req.on("socket", (socket) => {
    if (!socket.listeners("error").includes(ignore)) socket.on("error", ignore);
  });
  return { req, response };
}

/** The headers the Go client sends: its user agent, basic auth, and for a body its type, length and MD5. */
function goHeaders(
  data: Uint8Array | undefined,
  opts: { username?: string | undefined; password?: string | undefined; headers?: Record<string, string> },
): Record<string, string | number> {
  const headers: Record<string, string | number> = {
    "user-agent": "Go-http-client/1.1",
    ...(opts.headers ?? {}),
  };
  if (opts.username !== undefined && opts.username !== "")
    headers.authorization = `Basic ${Buffer.from(`${opts.username}:${opts.password ?? ""}`).toString("base64")}`;
  if (data !== undefined) {
    headers["content-type"] = "application/json";
    headers["content-length"] = data.byteLength;
    headers["content-md5"] = createHash("md5").update(data).digest("base64");
  }
  Object.assign(headers, opts.headers ?? {});
  return headers;
}

/** One raw request, exactly as the Go client builds it. `data` undefined = no body at all. */
export function rawRequest(
  method: string,
  url: string,
  data: Uint8Array | undefined,
  opts: {
    username?: string | undefined;
    password?: string | undefined;
    headers?: Record<string, string>;
    tls?: ClientTls;
  } = {},
): Promise<TfResponse> {
  const { req, response } = open({ method, url, headers: goHeaders(data, opts), tls: opts.tls });
  req.end(data === undefined ? undefined : Buffer.from(data));
  return response;
}

/** A request whose body the caller sends piece by piece (see `streamRequest`). */
export interface StreamingRequest {
  /** Resolves once the server has read the headers and asked for the body (`Expect: 100-continue`). */
  readonly continued: Promise<void>;
  /** Writes part of the body; resolves once it is handed to the socket. */
  write(chunk: Uint8Array): Promise<void>;
  end(chunk?: Uint8Array): void;
  /** The answer; rejects when the connection breaks first. */
  readonly response: Promise<TfResponse>;
  /** Drops the connection (the request's own errors then go to `response`). */
  destroy(): void;
}

/**
 * A request with Go's headers for `data` (Content-Length and Content-MD5 of the whole body)
 * whose body is written by the caller, to hold a request in flight. With `chunked`, there is no
 * Content-Length (nor MD5): the body goes in chunked transfer encoding.
 */
export function streamRequest(
  method: string,
  url: string,
  data: Uint8Array,
  opts: {
    username?: string | undefined;
    password?: string | undefined;
    chunked?: boolean;
    expectContinue?: boolean;
  } = {},
): StreamingRequest {
  const headers = goHeaders(data, opts);
  if (opts.chunked === true) {
    delete headers["content-length"];
    delete headers["content-md5"];
  }
  if (opts.expectContinue === true) headers.expect = "100-continue";
  const { req, response } = open({ method, url, headers });
  response.catch(() => undefined); // observed by the caller when it awaits it
  const continued = new Promise<void>((resolve, reject) => {
    req.once("continue", () => resolve());
    response.then(() => reject(new Error("answered before asking for the body")), reject);
  });
  continued.catch(() => undefined);
  if (opts.expectContinue !== true) req.flushHeaders();
  return {
    continued,
    write: (chunk) =>
      new Promise((resolve, reject) => req.write(chunk, (e) => (e == null ? resolve() : reject(e)))),
    end: (chunk) => {
      req.end(chunk);
    },
    response,
    destroy: () => {
      req.destroy();
    },
  };
}

/** A Terraform (or OpenTofu) http backend client for one state address. */
export class TfClient {
  readonly opts: Required<Omit<TfClientOptions, "username" | "password">> & TfClientOptions;
  lockId = "";
  jsonLockInfo: Uint8Array | undefined;

  constructor(opts: TfClientOptions) {
    this.opts = {
      lockAddress: opts.address,
      unlockAddress: opts.address,
      updateMethod: "POST",
      lockMethod: "LOCK",
      unlockMethod: "UNLOCK",
      flavour: "terraform",
      who: "alice@laptop",
      ...opts,
    };
  }

  #req(method: string, url: string, data: Uint8Array | undefined): Promise<TfResponse> {
    return rawRequest(method, url, data, { username: this.opts.username, password: this.opts.password });
  }

  get(): Promise<TfResponse> {
    return this.#req("GET", this.opts.address, undefined);
  }

  /** `Lock`: 200 acquires and remembers the lock; 409/423 bodies are the holder's LockInfo. */
  async lock(info: LockInfo): Promise<TfResponse> {
    this.lockId = "";
    const json = Buffer.from(JSON.stringify(info));
    const res = await this.#req(this.opts.lockMethod, this.opts.lockAddress, json);
    if (res.status === 200) {
      this.lockId = info.ID;
      this.jsonLockInfo = json;
    }
    return res;
  }

  /**
   * `Unlock`. Terraform re-marshals its stored LockInfo with the given ID; OpenTofu sends the
   * stored bytes as they are. In a process that never locked (`force-unlock`), OpenTofu sends its
   * empty stored bytes; Terraform has no stored info (hashicorp/terraform#28421: depending on the
   * version it fails before sending, or sends an empty body) — replayed here as `{"ID": id, …}`
   * with empty fields, the form OpenTofu documents, while tests send the empty body raw.
   */
  unlock(id = this.lockId): Promise<TfResponse> {
    let body: Uint8Array;
    if (this.opts.flavour === "opentofu") body = this.jsonLockInfo ?? new Uint8Array();
    else {
      const stored =
        this.jsonLockInfo === undefined
          ? {}
          : (JSON.parse(Buffer.from(this.jsonLockInfo).toString()) as object);
      body = Buffer.from(JSON.stringify({ ...emptyLockInfo(), ...stored, ID: id }));
    }
    return this.#req(this.opts.unlockMethod, this.opts.unlockAddress, body);
  }

  /** `Put`: the whole state, with `?ID=` while a lock is held. */
  put(data: Uint8Array | string): Promise<TfResponse> {
    const url = new URL(this.opts.address);
    if (this.lockId !== "") url.searchParams.set("ID", this.lockId);
    return this.#req(
      this.opts.updateMethod,
      url.toString(),
      typeof data === "string" ? Buffer.from(data) : data,
    );
  }
}

function emptyLockInfo(): LockInfo {
  return { ID: "", Operation: "", Info: "", Who: "", Version: "", Created: "0001-01-01T00:00:00Z", Path: "" };
}

/** A Terraform state (format 4) as Terraform writes it: two-space JSON, resources with instances. */
export function tfState(opts: {
  lineage: string;
  serial: number;
  resources?: number;
  tag?: string;
  sensitive?: string;
}): string {
  const resources = Array.from({ length: opts.resources ?? 2 }, (_, i) => ({
    mode: "managed",
    type: "null_resource",
    name: `r${i}`,
    provider: 'provider["registry.terraform.io/hashicorp/null"]',
    instances: [
      {
        schema_version: 0,
        attributes: {
          id: `${1000 + i}`,
          triggers: { tag: opts.tag ?? "v1" },
          ...(opts.sensitive === undefined ? {} : { password: opts.sensitive }),
        },
        sensitive_attributes: opts.sensitive === undefined ? [] : [[{ type: "get_attr", value: "password" }]],
      },
    ],
  }));
  return `${JSON.stringify(
    {
      version: 4,
      terraform_version: "1.9.5",
      serial: opts.serial,
      lineage: opts.lineage,
      outputs: { tag: { value: opts.tag ?? "v1", type: "string" } },
      resources,
      check_results: null,
    },
    null,
    2,
  )}\n`;
}
