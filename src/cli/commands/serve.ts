import { readFile, writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import type { Command } from "commander";
import { StateKeeperError } from "../../errors.js";
import { describeStoreUrl, openStore } from "../../objectstore/schemes.js";
import { createAuthenticator, hashToken, loadTokensFile, newToken } from "../../server/auth.js";
import { createStateServer } from "../../server/server.js";
import { type CliContext, globalsOf, sourceEncrypter } from "../context.js";
import { examples } from "../options.js";
import { out, parseDuration, parseSize, printable, warn } from "../output.js";

interface ServeOptions {
  listen: string;
  tokensFile?: string;
  insecureNoAuth?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  tlsClientCa?: string;
  maxBody: string;
  lockTtl?: string;
  accessLog: boolean;
  shutdownTimeout: string;
}

/** `host:port`, `[v6]:port` or `:port`; refused before anything starts. */
function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  const port = m === null ? Number.NaN : Number(m[3]);
  if (m === null || port > 65535)
    throw new StateKeeperError(
      "E_INVALID_ARGUMENT",
      `--listen must be host:port, [ipv6]:port or :port (got ${JSON.stringify(printable(text))})`,
    );
  return { host: m[1] ?? (m[2] === "" ? "0.0.0.0" : (m[2] as string)), port };
}

function isLoopback(host: string): boolean {
  if (host === "localhost") return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  return host === "::1";
}

async function readPem(flag: string, path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    throw new StateKeeperError(
      "E_INVALID_CONFIG",
      `${flag} ${printable(path)}: ${(e as NodeJS.ErrnoException).code ?? "cannot be read"}`,
    );
  }
}

export function registerServe(program: Command, ctx: CliContext): void {
  const serve = program
    .command("serve")
    .description(
      "serve every stack over HTTP as a Terraform/OpenTofu http backend (/tf/<factory>/<stack>): history, fenced writes, locks kept in the store",
    )
    .option(
      "--listen <host:port>",
      "address to listen on (non-loopback needs auth or --insecure-no-auth)",
      "127.0.0.1:8080",
    )
    .option(
      "--tokens-file <path>",
      "JSON file of named, hashed tokens with scopes per factory/stack pattern (docs/server.md); STATEKEEPER_SERVER_TOKEN adds one admin token",
    )
    .option("--insecure-no-auth", "serve without any token, even on a non-loopback address")
    .option("--tls-cert <file>", "PEM certificate: serve HTTPS (with --tls-key)")
    .option("--tls-key <file>", "PEM private key of --tls-cert")
    .option("--tls-client-ca <file>", "PEM CA: require client certificates it signed (mutual TLS)")
    .option("--max-body <size>", "largest request body accepted (413 above it)", "256MiB")
    .option(
      "--lock-ttl <duration>",
      "let a LOCK break a client lock older than this (e.g. 12h); default: locks never expire",
    )
    .option("--no-access-log", "do not write a JSON line per request to stderr")
    .option("--shutdown-timeout <duration>", "on SIGTERM/SIGINT, how long in-flight requests may take", "30s")
    .action(async (opts: ServeOptions, command: Command) => {
      const g = globalsOf(command);
      const { host, port } = parseListen(opts.listen);
      const maxBodyBytes = parseSize("--max-body", opts.maxBody);
      if (maxBodyBytes < 1)
        throw new StateKeeperError("E_INVALID_ARGUMENT", "--max-body must be at least 1 byte");
      const lockTtlMs = opts.lockTtl === undefined ? undefined : parseDuration("--lock-ttl", opts.lockTtl);
      const shutdownMs = parseDuration("--shutdown-timeout", opts.shutdownTimeout);
      if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined))
        throw new StateKeeperError("E_INVALID_ARGUMENT", "--tls-cert and --tls-key go together");
      if (opts.tlsClientCa !== undefined && opts.tlsCert === undefined)
        throw new StateKeeperError("E_INVALID_ARGUMENT", "--tls-client-ca needs --tls-cert and --tls-key");
      const adminToken = process.env.STATEKEEPER_SERVER_TOKEN;
      const auth = createAuthenticator({
        ...(adminToken === undefined || adminToken === "" ? {} : { adminToken }),
        ...(opts.tokensFile === undefined ? {} : { tokensFile: await loadTokensFile(opts.tokensFile) }),
      });
      if (auth.open && !isLoopback(host) && opts.insecureNoAuth !== true)
        throw new StateKeeperError(
          "E_INVALID_CONFIG",
          `refusing to serve ${host} without authentication: set STATEKEEPER_SERVER_TOKEN or --tokens-file, or pass --insecure-no-auth`,
        );
      const tls =
        opts.tlsCert === undefined || opts.tlsKey === undefined
          ? undefined
          : {
              cert: await readPem("--tls-cert", opts.tlsCert),
              key: await readPem("--tls-key", opts.tlsKey),
              clientCa:
                opts.tlsClientCa === undefined
                  ? undefined
                  : await readPem("--tls-client-ca", opts.tlsClientCa),
            };
      const encrypter = sourceEncrypter(ctx, g);
      const store = await openStore(g.store);
      const server = createStateServer({
        store,
        encrypter,
        auth,
        maxBodyBytes,
        lockTtlMs,
        tls,
        head: g.head,
        accessLog: opts.accessLog ? (line) => process.stderr.write(`${JSON.stringify(line)}\n`) : undefined,
        onError: (e, id) =>
          warn(
            `request ${id} failed: ${process.env.STATEKEEPER_DEBUG === "1" && e instanceof Error ? e.stack : String(e instanceof Error ? e.message : e)}`,
          ),
      });
      const address = await server.listen(host, port);
      const shown = address.family === "IPv6" ? `[${address.address}]` : address.address;
      const scheme = tls === undefined ? "http" : "https";
      out(`listening on ${scheme}://${shown}:${address.port}`);
      warn(
        `serving ${describeStoreUrl(g.store)} (sealed with ${encrypter.keyId}; auth: ${auth.open ? "none" : "tokens"}; max body ${maxBodyBytes} bytes${lockTtlMs === undefined ? "" : `; lock ttl ${lockTtlMs} ms`})`,
      );
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          warn(`${signal}: finishing in-flight requests (up to ${shutdownMs / 1000}s), then stopping`);
          void server.close(shutdownMs).then(resolve);
        };
        process.once("SIGTERM", () => stop("SIGTERM"));
        process.once("SIGINT", () => stop("SIGINT"));
      });
    });
  examples(
    serve,
    "serve                                   # http://127.0.0.1:8080, ./.statekeeper",
    "--store 's3://bucket/state?region=eu-west-1' serve --listen 0.0.0.0:8443 --tokens-file tokens.json --tls-cert cert.pem --tls-key key.pem",
    "serve token -o ci.token --name ci --scope 'webshop/*=read,write,lock'   # a new token in ci.token; prints its tokens-file entry",
  );

  serve
    .command("token")
    .description("write a fresh random token to a new file (mode 0600) and print its tokens-file entry")
    .requiredOption("-o, --output <file>", "where the token goes (must not exist)")
    .option("--name <name>", "the token's name in the tokens file", "my-token")
    .option("--scope <pattern=scopes>", "e.g. 'webshop/*=read,write,lock' (repeatable)", collect, [])
    .action(async (opts: { output: string; name: string; scope: string[] }) => {
      const token = newToken();
      try {
        await writeFile(opts.output, `${token}\n`, { mode: 0o600, flag: "wx" });
      } catch (e) {
        throw new StateKeeperError(
          "E_INVALID_ARGUMENT",
          `cannot create ${printable(opts.output)}: ${(e as NodeJS.ErrnoException).code ?? "write failed"}`,
        );
      }
      out(JSON.stringify(tokenEntry(opts.name, hashToken(token), opts.scope)));
    });

  serve
    .command("hash-token")
    .description("read a token on stdin and print its tokens-file entry (the token itself is never printed)")
    .option("--name <name>", "the token's name in the tokens file", "my-token")
    .option("--scope <pattern=scopes>", "e.g. 'webshop/*=read,write,lock' (repeatable)", collect, [])
    .action(async (opts: { name: string; scope: string[] }) => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      const token = Buffer.concat(chunks).toString("utf8").trim();
      if (token === "") throw new StateKeeperError("E_INVALID_ARGUMENT", "no token on stdin");
      out(JSON.stringify(tokenEntry(opts.name, hashToken(token), opts.scope)));
    });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** A tokens-file entry; scopes given as `pattern=scope,scope` (default: read on everything). */
function tokenEntry(name: string, sha256: string, scopes: string[]): unknown {
  const map: Record<string, string[]> = {};
  for (const s of scopes.length === 0 ? ["*/*=read"] : scopes) {
    const eq = s.lastIndexOf("=");
    if (eq <= 0)
      throw new StateKeeperError(
        "E_INVALID_ARGUMENT",
        `--scope must be pattern=scopes, like 'webshop/*=read,write' (got ${JSON.stringify(printable(s))})`,
      );
    map[s.slice(0, eq)] = s
      .slice(eq + 1)
      .split(",")
      .filter((x) => x !== "");
  }
  return { name, sha256, scopes: map };
}
