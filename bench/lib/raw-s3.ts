import { createHash, createHmac } from "node:crypto";
import http from "node:http";
import { performance } from "node:perf_hooks";

/**
 * The smallest correct S3 client: node:http plus a hand-written SigV4 signature (unsigned
 * payload, as the SDK does over plain http with checksums "when required"). It is the floor
 * the SDK and the driver are compared against, and it lets scenario 7 vary one transport knob
 * at a time (connection reuse) with nothing else in between.
 */
export interface RawS3Options {
  endpoint: string;
  bucket: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** false: a fresh TCP connection per request. */
  keepAlive: boolean;
}

export interface RawResponse {
  status: number;
  etag: string | undefined;
  body: Buffer;
  /** ms from the response head being parsed to the last body byte: shows a held-back body. */
  headToEndMs: number;
}

export interface RawS3 {
  request(
    method: "GET" | "PUT" | "HEAD" | "DELETE",
    key: string,
    opts?: { body?: Uint8Array; headers?: Record<string, string> },
  ): Promise<RawResponse>;
  close(): void;
}

const hmac = (key: Buffer | string, data: string) => createHmac("sha256", key).update(data).digest();

/** RFC 3986 encoding per path segment, as SigV4 canonical URIs want it. */
const encodePath = (path: string) =>
  path
    .split("/")
    .map((s) =>
      encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`),
    )
    .join("/");

export function rawS3(options: RawS3Options): RawS3 {
  const url = new URL(options.endpoint);
  const agent = new http.Agent({ keepAlive: options.keepAlive, maxSockets: 64 });

  function sign(method: string, path: string, headers: Record<string, string>): Record<string, string> {
    const amzDate = new Date().toISOString().replace(/[:-]|\.\d{3}/g, "");
    const day = amzDate.slice(0, 8);
    const all: Record<string, string> = {
      ...headers,
      host: url.host,
      "x-amz-date": amzDate,
      "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
    };
    const names = Object.keys(all)
      .map((k) => k.toLowerCase())
      .sort();
    const lower = Object.fromEntries(Object.entries(all).map(([k, v]) => [k.toLowerCase(), v.trim()]));
    const canonical = [
      method,
      path,
      "",
      ...names.map((n) => `${n}:${lower[n]}`),
      "",
      names.join(";"),
      "UNSIGNED-PAYLOAD",
    ].join("\n");
    const scope = `${day}/${options.region}/s3/aws4_request`;
    const toSign = [
      "AWS4-HMAC-SHA256",
      amzDate,
      scope,
      createHash("sha256").update(canonical).digest("hex"),
    ].join("\n");
    const key = hmac(
      hmac(hmac(hmac(`AWS4${options.credentials.secretAccessKey}`, day), options.region), "s3"),
      "aws4_request",
    );
    return {
      ...lower,
      authorization: `AWS4-HMAC-SHA256 Credential=${options.credentials.accessKeyId}/${scope}, SignedHeaders=${names.join(";")}, Signature=${hmac(key, toSign).toString("hex")}`,
    };
  }

  return {
    request(method, key, opts = {}) {
      const path = encodePath(`/${options.bucket}/${key}`);
      const headers = { ...(opts.headers ?? {}) };
      if (opts.body !== undefined) headers["content-length"] = String(opts.body.byteLength);
      return new Promise((resolve, reject) => {
        const req = http.request(
          { host: url.hostname, port: url.port, method, path, agent, headers: sign(method, path, headers) },
          (res) => {
            const headAt = performance.now();
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("end", () =>
              resolve({
                status: res.statusCode ?? 0,
                etag: typeof res.headers.etag === "string" ? res.headers.etag : undefined,
                body: Buffer.concat(chunks),
                headToEndMs: performance.now() - headAt,
              }),
            );
            res.on("error", reject);
          },
        );
        req.on("error", reject);
        req.end(opts.body === undefined ? undefined : Buffer.from(opts.body));
      });
    },
    close() {
      agent.destroy();
    },
  };
}

/** Throws unless the status is one of `ok`. */
export function expectStatus(r: RawResponse, what: string, ...ok: number[]): RawResponse {
  if (!ok.includes(r.status)) throw new Error(`${what}: HTTP ${r.status} ${r.body.toString().slice(0, 200)}`);
  return r;
}
