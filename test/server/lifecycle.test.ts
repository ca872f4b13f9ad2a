// `statekeeper serve` as deployed: on the file store, the lifecycle suite (locks across kill -9,
// updates cut off by kill -9, two processes on one store), then what does not depend on the
// store: graceful shutdown, body limits, --lock-ttl, refusals at startup, scopes from a tokens
// file built with `serve token` / `serve hash-token`, and TLS with and without client certificates.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { pathToFileURL } from "node:url";
import { ensureBuilt, sk, tempDir } from "../cli/helpers.js";
import { ADMIN_TOKEN, KEY, lifecycleSuite } from "./lifecycle-suite.js";
import { type RunningServer, type StartOptions, startServer } from "./support.js";
import { lockInfo, rawRequest, streamRequest, TfClient, tfState } from "./tf-client.js";

const storeUrl = () => pathToFileURL(join(tempDir("serve-life-store"), "state")).href;

lifecycleSuite("file store", { storeUrl, crashRounds: 8, crashResources: 5000 });

describe("statekeeper serve as deployed", () => {
  const cwd = tempDir("serve-deploy");
  const env = { STATEKEEPER_SERVER_TOKEN: ADMIN_TOKEN, STATEKEEPER_KEY: KEY };
  const admin = { username: "terraform", password: ADMIN_TOKEN };
  const started: RunningServer[] = [];
  const start = async (opts: Partial<StartOptions> & { store: string }) => {
    const server = await startServer({ env, cwd, ...opts });
    started.push(server);
    return server;
  };
  const cli = (store: string, stack: string, ...args: string[]) =>
    sk(["--store", store, "--factory", "webshop", "--stack", stack, ...args], {
      cwd,
      env: { STATEKEEPER_KEY: KEY },
    });
  /** How a fresh TCP connection to `url` ends: "connected" or the error code. */
  const connectTo = (url: string) =>
    new Promise<string>((resolve) => {
      const { hostname, port } = new URL(url);
      const socket = connect(Number(port), hostname);
      socket.once("connect", () => {
        socket.destroy();
        resolve("connected");
      });
      socket.once("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    });
  const until = async (what: string, done: () => boolean) => {
    for (let i = 0; i < 200 && !done(); i++) await sleep(50);
    assert.ok(done(), `gave up waiting: ${what}`);
  };

  before(async () => {
    await ensureBuilt();
  });
  after(async () => {
    for (const s of started) if (s.child.exitCode === null && s.child.signalCode === null) await s.kill9();
  });

  test("SIGTERM during a slowly streamed update: new connections are refused at once, the update still gets its 200 and is stored, the server exits 0", async () => {
    const store = storeUrl();
    const server = await start({ store });
    const state = Buffer.from(tfState({ lineage: randomUUID(), serial: 1, resources: 200 }));
    const half = Math.floor(state.byteLength / 2);
    const req = streamRequest("POST", `${server.url}/tf/webshop/graceful`, state, {
      ...admin,
      expectContinue: true,
    });
    await req.continued; // the server has read the headers: the request is being handled
    await req.write(state.subarray(0, half));
    server.child.kill("SIGTERM");
    await until("the server saw SIGTERM", () =>
      /SIGTERM: finishing in-flight requests/.test(server.stderr()),
    );
    // The message is printed just before the listener closes: a connection may slip in between.
    let fresh = await connectTo(server.url);
    for (let i = 0; i < 20 && fresh === "connected"; i++) fresh = await connectTo(server.url);
    assert.equal(fresh, "ECONNREFUSED", "no new connection once shutting down");
    req.end(state.subarray(half));
    const res = await req.response;
    assert.equal(res.status, 200, `the in-flight update is answered: ${res.text}`);
    const exit = await server.exited();
    assert.deepEqual(
      exit,
      { code: 0, signal: null },
      `the server exits 0 after answering\n${server.stderr()}`,
    );
    assert.equal(await connectTo(server.url), "ECONNREFUSED");
    const pulled = await cli(store, "graceful", "pull");
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.equal(pulled.stdout, state.toString("utf8"), "the update was stored, byte for byte");
  });

  test("--max-body 1KiB: bigger bodies are 413 with and without Content-Length, nothing is stored or locked, the server stays up", async () => {
    const store = storeUrl();
    const server = await start({ store, args: ["--max-body", "1KiB"] });
    const url = `${server.url}/tf/webshop/limits`;
    const big = Buffer.from(tfState({ lineage: randomUUID(), serial: 1, resources: 10 }));
    assert.ok(big.byteLength > 1024);

    const declared = await rawRequest("POST", url, big, admin);
    assert.equal(declared.status, 413, `with Content-Length: ${declared.text}`);
    assert.equal(JSON.parse(declared.text).error.code, "E_TOO_LARGE");
    assert.match(JSON.parse(declared.text).error.message, /1024 bytes/);

    const chunked = streamRequest("POST", url, big, { ...admin, chunked: true });
    await chunked.write(big.subarray(0, 700));
    chunked.end(big.subarray(700));
    const streamed = await chunked.response;
    assert.equal(streamed.status, 413, `chunked, without Content-Length: ${streamed.text}`);

    const bigLock = { ...lockInfo("OperationTypeApply"), Info: "x".repeat(2000) };
    const lock = await rawRequest("LOCK", url, Buffer.from(JSON.stringify(bigLock)), admin);
    assert.equal(lock.status, 413, "a LockInfo over the limit too");

    assert.equal((await rawRequest("GET", url, undefined, admin)).status, 204, "nothing was stored");
    assert.equal((await rawRequest("GET", `${server.url}/healthz`, undefined)).status, 200, "still up");
    const tf = new TfClient({ address: url, ...admin });
    assert.equal(
      (await tf.lock(lockInfo("OperationTypeApply"))).status,
      200,
      "not locked by the refused LOCK",
    );
    const small = tfState({ lineage: randomUUID(), serial: 1, resources: 0 });
    assert.ok(Buffer.byteLength(small) <= 1024);
    assert.equal((await tf.put(small)).status, 200, "a body under the limit is taken");
    assert.equal((await tf.get()).text, small);
    assert.equal((await tf.unlock()).status, 200);
    assert.equal(await server.stop(), 0);
  });

  test("--lock-ttl 1s: another LOCK is 423 at first and 200 once the lock is older than that; the old holder's ID is then refused", async () => {
    const store = storeUrl();
    const server = await start({ store, args: ["--lock-ttl", "1s"] });
    const address = `${server.url}/tf/webshop/ttl`;
    const alice = new TfClient({ address, ...admin, who: "alice@laptop" });
    const bob = new TfClient({ address, ...admin, who: "bob@ci" });
    assert.equal((await alice.lock(lockInfo("OperationTypeApply", "alice@laptop"))).status, 200);
    const first = await bob.lock(lockInfo("OperationTypePlan", "bob@ci"));
    assert.equal(first.status, 423, "a fresh lock is not broken");
    assert.equal(JSON.parse(first.text).ID, alice.lockId);
    const lineage = randomUUID();
    const s1 = tfState({ lineage, serial: 1, tag: "alice" });
    assert.equal((await alice.put(s1)).status, 200);

    let attempts = 1;
    for (; attempts < 100; attempts++) {
      await sleep(200);
      const res = await bob.lock(lockInfo("OperationTypePlan", "bob@ci"));
      if (res.status === 200) break;
      assert.equal(res.status, 423, res.text);
    }
    assert.ok(attempts < 100, "the abandoned lock was broken once older than --lock-ttl");

    const lateWhileHeld = await alice.put(tfState({ lineage, serial: 2, tag: "late" }));
    assert.equal(
      lateWhileHeld.status,
      423,
      "the old holder's ID does not hold the stack: the new holder does",
    );
    assert.equal(JSON.parse(lateWhileHeld.text).ID, bob.lockId);
    assert.equal((await bob.unlock()).status, 200);
    const lateAfter = await alice.put(tfState({ lineage, serial: 2, tag: "late" }));
    assert.equal(lateAfter.status, 409, `a lock that was broken stays lost: ${lateAfter.text}`);
    assert.equal(JSON.parse(lateAfter.text).error.code, "E_LOCK_LOST");
    assert.equal((await bob.get()).text, s1, "nothing written with the broken lock");
    assert.equal(await server.stop(), 0);
  });

  test("startup refusals: exit 2 with a message naming the problem, and never listening", async () => {
    const store = storeUrl();
    const badTokens = join(cwd, "bad-tokens.json");
    const leaked = `tok-${randomBytes(12).toString("hex")}`;
    writeFileSync(badTokens, `{"tokens": [{"name": "ci", "token": "${leaked}"`);
    const cases: Array<[string, string[], Record<string, string>, RegExp[]]> = [
      [
        "a non-loopback address without any token",
        ["--listen", "0.0.0.0:0"],
        {},
        [/STATEKEEPER_SERVER_TOKEN/, /--insecure-no-auth/],
      ],
      [
        "an admin token under 16 characters",
        [],
        { STATEKEEPER_SERVER_TOKEN: "short-token" },
        [/at least 16/],
      ],
      ["a malformed tokens file", ["--tokens-file", badTokens], {}, [/bad-tokens\.json/, /not valid JSON/]],
      ["--tls-cert without --tls-key", ["--tls-cert", join(cwd, "cert.pem")], {}, [/--tls-key/]],
      ["a bad --listen", ["--listen", "127.0.0.1"], {}, [/--listen must be host:port/]],
      ["a bad --max-body", ["--max-body", "lots"], {}, [/--max-body must be a size/]],
    ];
    const results = await Promise.all(
      cases.map(([, args, extra]) =>
        sk(
          [
            "--store",
            store,
            "serve",
            ...(args.includes("--listen") ? [] : ["--listen", "127.0.0.1:0"]),
            ...args,
          ],
          {
            cwd,
            env: { STATEKEEPER_KEY: KEY, ...extra },
            timeoutMs: 30_000,
          },
        ),
      ),
    );
    cases.forEach(([what, , , patterns], i) => {
      const r = results[i] as { code: number | null; stdout: string; stderr: string };
      assert.equal(r.code, 2, `${what}: exit 2 (got ${r.code}; null = still running, killed)\n${r.stderr}`);
      assert.doesNotMatch(r.stdout, /listening/, `${what}: never listened`);
      for (const p of patterns) assert.match(r.stderr, p, what);
    });
    assert.ok(!results.some((r) => r.stderr.includes("short-token")), "the short token is not echoed");
    assert.ok(!results.some((r) => r.stderr.includes(leaked)), "nor the tokens file's content");
  });

  test("scopes from a tokens file built with `serve token` and `serve hash-token`: read-only, a webshop/* writer, admin for force, wrong token", async () => {
    const dir = tempDir("serve-tokens");
    const make = async (name: string, scope: string) => {
      const file = join(dir, `${name}.token`);
      const r = await sk(["serve", "token", "-o", file, "--name", name, "--scope", scope], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(statSync(file).mode & 0o777, 0o600, `${name}: the token file is private`);
      const token = readFileSync(file, "utf8").trim();
      assert.ok(!r.stdout.includes(token) && !r.stderr.includes(token), "the printed entry has no token");
      return { token, entry: JSON.parse(r.stdout) as { name: string; sha256: string } };
    };
    const reader = await make("reader", "*/*=read");
    const writer = await make("shop-writer", "webshop/*=read,write,lock");
    const opsToken = randomBytes(24).toString("base64url");
    const hashed = await sk(
      ["serve", "hash-token", "--name", "ops", "--scope", "webshop/*=read,write,lock,admin"],
      {
        cwd: dir,
        input: `${opsToken}\n`,
      },
    );
    assert.equal(hashed.code, 0, hashed.stderr);
    assert.ok(!hashed.stdout.includes(opsToken), "hash-token does not print the token");
    const tokensFile = join(dir, "tokens.json");
    writeFileSync(
      tokensFile,
      JSON.stringify({ tokens: [reader.entry, writer.entry, JSON.parse(hashed.stdout)] }, null, 2),
    );

    const store = storeUrl();
    const server = await start({ store, args: ["--tokens-file", tokensFile], env: { STATEKEEPER_KEY: KEY } });
    const as = (token: string) => ({ username: "terraform", password: token });
    const url = (path: string) => `${server.url}/tf/${path}`;
    const lineage = randomUUID();
    const state = (serial: number) => Buffer.from(tfState({ lineage, serial, tag: `s${serial}` }));

    const written = await rawRequest("POST", url("webshop/x"), state(1), as(writer.token));
    assert.equal(written.status, 200, `the writer may write webshop/x: ${written.text}`);
    const elsewhere = await rawRequest("POST", url("shop/prod"), state(1), as(writer.token));
    assert.equal(elsewhere.status, 403, "…not shop/prod");
    assert.match(JSON.parse(elsewhere.text).error.message, /shop-writer may not write shop\/prod/);
    const forced = await rawRequest("POST", url("webshop/x?force=true"), state(1), as(writer.token));
    assert.equal(forced.status, 403, "force needs admin");
    assert.match(JSON.parse(forced.text).error.message, /needs admin/);
    const opsForced = await rawRequest("POST", url("webshop/x?force=true"), state(1), as(opsToken));
    assert.equal(opsForced.status, 200, `admin on webshop/* may force: ${opsForced.text}`);

    const read = await rawRequest("GET", url("webshop/x"), undefined, as(reader.token));
    assert.equal(read.status, 200);
    assert.equal(read.text, state(1).toString("utf8"), "the reader reads the forced state");
    assert.equal((await rawRequest("GET", url("shop/prod"), undefined, as(reader.token))).status, 204);
    const readerPost = await rawRequest("POST", url("webshop/x"), state(2), as(reader.token));
    assert.equal(readerPost.status, 403, "read-only: no update");
    const readerLock = await rawRequest(
      "LOCK",
      url("webshop/x"),
      Buffer.from(JSON.stringify(lockInfo("OperationTypeApply"))),
      as(reader.token),
    );
    assert.equal(readerLock.status, 403, "read-only: no lock");
    const wrong = await rawRequest("GET", url("webshop/x"), undefined, as(`${writer.token}x`));
    assert.equal(wrong.status, 401, "a wrong token");
    assert.equal(
      (await rawRequest("GET", url("webshop/x"), undefined, as(reader.token))).text,
      state(1).toString(),
    );

    const principals = (lines: Array<Record<string, unknown>>) => new Set(lines.map((l) => l.principal));
    const names = principals(
      await server.accessLogWhen((lines) =>
        ["shop-writer", "reader", "ops"].every((n) => principals(lines).has(n)),
      ),
    );
    assert.ok(
      names.has("shop-writer") && names.has("reader") && names.has("ops"),
      "the access log names each token",
    );
    for (const t of [reader.token, writer.token, opsToken])
      assert.ok(!server.stderr().includes(t), "no token in the server's output");
    assert.equal(await server.stop(), 0);
  });

  describe("TLS", () => {
    const dir = tempDir("serve-tls");
    const pem = (name: string) => readFileSync(join(dir, name));
    const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    /** A key and a certificate for `cn` signed by ca.pem, with `ext` (an x509v3 extensions line each). */
    const issue = (name: string, cn: string, ext: string[]) => {
      openssl("req", ...ec, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`);
      writeFileSync(join(dir, `${name}.ext`), `${ext.join("\n")}\n`);
      openssl(
        "x509",
        "-req",
        "-in",
        `${name}.csr`,
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-set_serial",
        `0x${randomBytes(8).toString("hex")}`,
        "-days",
        "2",
        "-out",
        `${name}.pem`,
        "-extfile",
        `${name}.ext`,
      );
    };

    before(() => {
      const ca = ["-x509", ...ec, "-days", "2", "-addext", "basicConstraints=critical,CA:TRUE"];
      openssl("req", ...ca, "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=statekeeper test CA");
      issue("server", "127.0.0.1", ["subjectAltName=IP:127.0.0.1", "extendedKeyUsage=serverAuth"]);
      issue("client", "ci-runner", ["extendedKeyUsage=clientAuth"]);
      // A client certificate no trusted CA signed.
      openssl(
        "req",
        "-x509",
        ...ec,
        "-days",
        "2",
        "-keyout",
        "rogue.key",
        "-out",
        "rogue.pem",
        "-subj",
        "/CN=rogue",
      );
    });

    const tlsArgs = () => ["--tls-cert", join(dir, "server.pem"), "--tls-key", join(dir, "server.key")];

    test("--tls-cert/--tls-key: https with the CA trusted, the state over it; an untrusting client fails the handshake", async () => {
      const store = storeUrl();
      const server = await start({ store, args: tlsArgs() });
      assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/, "the printed URL is https");
      const ca = pem("ca.pem");
      const health = await rawRequest("GET", `${server.url}/healthz`, undefined, { tls: { ca } });
      assert.equal(health.status, 200);
      const state = Buffer.from(tfState({ lineage: randomUUID(), serial: 1 }));
      const put = await rawRequest("POST", `${server.url}/tf/webshop/tls`, state, { ...admin, tls: { ca } });
      assert.equal(put.status, 200, put.text);
      const got = await rawRequest("GET", `${server.url}/tf/webshop/tls`, undefined, {
        ...admin,
        tls: { ca },
      });
      assert.equal(got.text, state.toString());
      await assert.rejects(
        rawRequest("GET", `${server.url}/healthz`, undefined),
        /self[- ]signed|unable to verify|issuer/i,
      );
      const plain = server.url.replace("https://", "http://");
      await assert.rejects(rawRequest("GET", `${plain}/healthz`, undefined), "no plain http on a TLS port");
      assert.equal(await server.stop(), 0);
    });

    test("--tls-client-ca: no client certificate, or one from another CA, fails the handshake; the CA's client certificate gets 200", async () => {
      const store = storeUrl();
      const server = await start({ store, args: [...tlsArgs(), "--tls-client-ca", join(dir, "ca.pem")] });
      const ca = pem("ca.pem");
      const health = `${server.url}/healthz`;
      await assert.rejects(rawRequest("GET", health, undefined, { tls: { ca } }), "no client certificate");
      await assert.rejects(
        rawRequest("GET", health, undefined, { tls: { ca, cert: pem("rogue.pem"), key: pem("rogue.key") } }),
        "a certificate from another CA",
      );
      const ok = await rawRequest("GET", health, undefined, {
        tls: { ca, cert: pem("client.pem"), key: pem("client.key") },
      });
      assert.equal(ok.status, 200);
      const state = await rawRequest("GET", `${server.url}/tf/webshop/mtls`, undefined, {
        ...admin,
        tls: { ca, cert: pem("client.pem"), key: pem("client.key") },
      });
      assert.equal(state.status, 204, "a client with the certificate and the token is served");
      const noToken = await rawRequest("GET", `${server.url}/tf/webshop/mtls`, undefined, {
        tls: { ca, cert: pem("client.pem"), key: pem("client.key") },
      });
      assert.equal(noToken.status, 401, "a certificate does not replace the token");
      assert.equal(await server.stop(), 0);
    });
  });
});
