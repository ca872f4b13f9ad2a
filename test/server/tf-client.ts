// Replays what Terraform's and OpenTofu's `http` backend clients send, request by request, as
// their sources do it (hashicorp/terraform and opentofu/opentofu,
// internal/backend/remote-state/http/client.go): every body with Content-Type application/json,
// Content-Length and a base64 Content-MD5; basic auth with the token as password; `?ID=<lock id>`
// on updates while a lock is held; LockInfo with Go's field names.
import { createHash, randomUUID } from "node:crypto";
import { request } from "node:http";

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

/** One raw request, exactly as the Go client builds it. `data` undefined = no body at all. */
export function rawRequest(
  method: string,
  url: string,
  data: Uint8Array | undefined,
  opts: {
    username?: string | undefined;
    password?: string | undefined;
    headers?: Record<string, string>;
  } = {},
): Promise<TfResponse> {
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
  return new Promise((resolve, reject) => {
    // The path is sent exactly as given (a URL object would normalise `..` away).
    const m = /^http:\/\/([^/:]+):(\d+)(\/.*)?$/.exec(url);
    if (m === null) throw new Error(`not an http://host:port/… URL: ${url}`);
    const req = request({ host: m[1], port: Number(m[2]), path: m[3] ?? "/", method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString("utf8") });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(data === undefined ? undefined : Buffer.from(data));
  });
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
