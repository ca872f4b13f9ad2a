// The Terraform/OpenTofu http backend protocol, replayed against `statekeeper serve` running as
// a child process over real HTTP: the request sequences of init/plan/apply, retries, locks,
// force-unlocks, stale writers and hostile input. Run on the file store (protocol.test.ts) and
// on a real Ceph RGW (protocol-s3.test.ts).
import assert from "node:assert/strict";
import { createHash, randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { ensureBuilt, sk, tempDir } from "../cli/helpers.js";
import { type RunningServer, startServer } from "./support.js";
import { lockInfo, rawRequest, TfClient, tfState } from "./tf-client.js";

export const ADMIN_TOKEN = "admin-token-for-the-protocol-suite";
const KEY = Buffer.alloc(32, 7).toString("base64");

export interface SuiteOptions {
  /** A fresh store URL for each call. */
  storeUrl: () => string;
  /** The head the server and the CLI give new stacks (`--head`, here through STATEKEEPER_HEAD). */
  head?: "pointer" | "log";
}

const md5 = (b: Uint8Array) => createHash("md5").update(b).digest("base64");

export function protocolSuite(label: string, options: SuiteOptions): void {
  describe(`statekeeper serve: the Terraform/OpenTofu http protocol (${label})`, () => {
    let server: RunningServer;
    let store: string;
    const cwd = tempDir("serve");
    const headEnv: Record<string, string> =
      options.head === undefined ? {} : { STATEKEEPER_HEAD: options.head };
    const env = { STATEKEEPER_SERVER_TOKEN: ADMIN_TOKEN, STATEKEEPER_KEY: KEY, ...headEnv };
    const client = (stack: string, extra: Partial<ConstructorParameters<typeof TfClient>[0]> = {}) =>
      new TfClient({
        address: `${server.url}/tf/webshop/${stack}`,
        username: "terraform",
        password: ADMIN_TOKEN,
        ...extra,
      });
    const cli = (stack: string, ...args: string[]) =>
      sk(["--store", store, "--factory", "webshop", "--stack", stack, ...args], {
        cwd,
        env: { STATEKEEPER_KEY: KEY, ...headEnv },
      });

    before(async () => {
      await ensureBuilt();
      store = options.storeUrl();
      server = await startServer({ store, env, cwd });
    });
    after(async () => {
      if (server !== undefined) assert.equal(await server.stop(), 0, "the server stops cleanly on SIGTERM");
    });

    test("terraform apply: LOCK, GET (none), two POSTs with ?ID, a retried POST, UNLOCK — two revisions, the body byte for byte", async () => {
      const tf = client("apply");
      const lineage = randomUUID();
      const info = lockInfo("OperationTypeApply");
      assert.equal((await tf.lock(info)).status, 200);
      assert.equal((await tf.get()).status, 204, "no state yet");
      const s1 = tfState({ lineage, serial: 1, tag: "v1" });
      const s2 = tfState({ lineage, serial: 2, tag: "v2", resources: 3 });
      assert.equal((await tf.put(s1)).status, 200);
      assert.equal((await tf.put(s2)).status, 200);
      const retried = await tf.put(s2);
      assert.equal(retried.status, 200, "a retried identical update succeeds");
      assert.equal(JSON.parse(retried.text).unchanged, true, "…without a new revision");
      assert.equal((await tf.unlock()).status, 200);

      const got = await tf.get();
      assert.equal(got.status, 200);
      assert.equal(got.text, s2, "the state comes back byte for byte");
      assert.equal(got.headers["content-md5"], md5(got.body), "Content-MD5 is the base64 MD5 of the body");

      const history = JSON.parse((await cli("apply", "history", "--json")).stdout);
      assert.equal(history.revisions.length, 2, "one revision per accepted update, none for the retry");
      assert.deepEqual(
        history.revisions.map((r: { entries: number }) => r.entries),
        [2, 3],
        "history counts the resources of each state",
      );
      assert.deepEqual(
        history.revisions.map((r: { by: string | null }) => r.by),
        ["alice@laptop", "alice@laptop"],
        "each revision names the client that held the lock (its LockInfo's Who), not the server",
      );
      const diff = await cli("apply", "diff", "current~1", "current", "--json");
      assert.equal(diff.code, 0, diff.stderr);
      const d = JSON.parse(diff.stdout).diff;
      assert.deepEqual(
        d.added.map((e: { address: string }) => e.address),
        ["null_resource.r2"],
        "a diff of two Terraform states names resources by address",
      );
      assert.ok(d.changed.some((e: { address: string }) => e.address === "null_resource.r0"));
      const verify = await cli("apply", "verify");
      assert.equal(verify.code, 0, verify.stdout + verify.stderr);
      // The head the server gave the new stack: a log's revisions are its entries' numbers.
      const revs = history.revisions.map((r: { rev: string }) => r.rev);
      if ((options.head ?? "log") === "log")
        assert.ok(
          revs.every((r: string) => /^[1-9][0-9]*$/.test(r)),
          revs.join(", "),
        );
      else
        assert.ok(
          revs.every((r: string) => r.endsWith("Z") || r.includes("Z_")),
          revs.join(", "),
        );
    });

    test("terraform init and plan: GET, then LOCK (plan), GET, UNLOCK — no revision is written", async () => {
      const tf = client("plan");
      assert.equal((await tf.get()).status, 204, "init reads: no state yet");
      const info = lockInfo("OperationTypePlan");
      const locked = await tf.lock(info);
      assert.equal(locked.status, 200);
      assert.equal(JSON.parse(locked.text).ID, info.ID);
      assert.equal((await tf.get()).status, 204);
      assert.equal((await tf.unlock()).status, 200);
      assert.equal((await tf.unlock()).status, 200, "a retried UNLOCK of a lock already released is 200");
      const history = JSON.parse((await cli("plan", "history", "--json")).stdout);
      assert.deepEqual(history.revisions, [], "reading and locking write no revision");
      assert.equal(
        (await cli("plan", "lock", "status", "--json")).stdout.includes(info.ID),
        false,
        "unlocked",
      );
    });

    test("the state is sealed at rest: the stored revision does not contain its lineage", async () => {
      const tf = client("sealed");
      const lineage = `lineage-${randomUUID()}`;
      assert.equal((await tf.put(tfState({ lineage, serial: 1 }))).status, 200);
      const pulled = await cli("sealed", "pull");
      assert.equal(pulled.code, 0, pulled.stderr);
      assert.ok(pulled.stdout.includes(lineage), "pull opens it with the key");
      const wrongKey = await sk(["--store", store, "--factory", "webshop", "--stack", "sealed", "pull"], {
        cwd,
        env: { STATEKEEPER_KEY: Buffer.alloc(32, 9).toString("base64") },
      });
      assert.equal(wrongKey.code, 5, "another key cannot open it");
      assert.ok(!wrongKey.stdout.includes(lineage) && !wrongKey.stderr.includes(lineage));
    });

    test("a retried LOCK with the same ID is 200; another client's LOCK is 423 with the holder's LockInfo", async () => {
      const a = client("locks");
      const b = client("locks", { who: "bob@ci" });
      const info = lockInfo("OperationTypeApply", "alice@laptop");
      assert.equal((await a.lock(info)).status, 200);
      assert.equal((await a.lock(info)).status, 200, "the same LOCK again (a client retry) is 200");
      const refused = await b.lock(lockInfo("OperationTypePlan", "bob@ci"));
      assert.equal(refused.status, 423);
      const holder = JSON.parse(refused.text);
      assert.equal(holder.ID, info.ID, "the body is the holder's LockInfo, as Terraform parses it");
      assert.equal(holder.Who, "alice@laptop");
      assert.equal(holder.Operation, "OperationTypeApply");
      const status = await cli("locks", "lock", "status", "--json");
      assert.match(status.stdout, /alice/, "the CLI sees the Terraform lock as the stack's lock");
      assert.equal((await a.unlock()).status, 200);
      assert.equal((await b.lock(lockInfo("OperationTypePlan", "bob@ci"))).status, 200, "free again");
      assert.equal((await b.unlock()).status, 200);
    });

    test("while locked, an update without the holder's ID, or with another ID, is 423 and changes nothing", async () => {
      const owner = client("guarded");
      const lineage = randomUUID();
      assert.equal((await owner.put(tfState({ lineage, serial: 1 }))).status, 200);
      assert.equal((await owner.lock(lockInfo("OperationTypeApply"))).status, 200);
      const intruder = client("guarded");
      const noId = await intruder.put(tfState({ lineage, serial: 2, tag: "intruder" }));
      assert.equal(noId.status, 423);
      assert.equal(JSON.parse(noId.text).ID, owner.lockId, "the refusal names the holder");
      intruder.lockId = randomUUID();
      assert.equal((await intruder.put(tfState({ lineage, serial: 2, tag: "intruder" }))).status, 423);
      assert.equal((await owner.get()).text, tfState({ lineage, serial: 1 }), "nothing was written");
      assert.equal((await owner.put(tfState({ lineage, serial: 2, tag: "owner" }))).status, 200);
      assert.equal((await owner.unlock()).status, 200);
    });

    test("stale writers are refused with 409 and a reason: older serial, other lineage, same serial with other content", async () => {
      const tf = client("stale");
      const lineage = randomUUID();
      assert.equal((await tf.put(tfState({ lineage, serial: 5, tag: "five" }))).status, 200);
      const older = await tf.put(tfState({ lineage, serial: 4 }));
      assert.equal(older.status, 409);
      assert.match(JSON.parse(older.text).error.message, /serial 4 is older than the stored state's 5/);
      const other = await tf.put(tfState({ lineage: randomUUID(), serial: 6 }));
      assert.equal(other.status, 409);
      assert.match(JSON.parse(other.text).error.message, /lineage/);
      const same = await tf.put(tfState({ lineage, serial: 5, tag: "other" }));
      assert.equal(same.status, 409);
      assert.match(JSON.parse(same.text).error.message, /equals the stored state's, with different content/);
      assert.equal(
        (await tf.get()).text,
        tfState({ lineage, serial: 5, tag: "five" }),
        "nothing was overwritten",
      );
      const forced = await rawRequest(
        "POST",
        `${server.url}/tf/webshop/stale?force=true`,
        Buffer.from(tfState({ lineage, serial: 4 })),
        {
          username: "terraform",
          password: ADMIN_TOKEN,
        },
      );
      assert.equal(forced.status, 200, "an admin may force it");
      assert.equal((await tf.get()).text, tfState({ lineage, serial: 4 }));
    });

    test("force-unlock: Terraform's and OpenTofu's empty body, and an ID body, break the lock; the old holder's next update is refused", async () => {
      const lineage = randomUUID();
      for (const [flavour, body] of [
        ["terraform", "empty"],
        ["opentofu", "empty"],
        ["opentofu", "id"],
      ] as const) {
        const stack = `force-${flavour}-${body}`;
        const holder = client(stack, { flavour });
        assert.equal((await holder.lock(lockInfo("OperationTypeApply"))).status, 200);
        assert.equal((await holder.put(tfState({ lineage, serial: 1 }))).status, 200);
        const operator = client(stack, { flavour });
        const res =
          body === "empty"
            ? await rawRequest("UNLOCK", `${server.url}/tf/webshop/${stack}`, new Uint8Array(), {
                username: "terraform",
                password: ADMIN_TOKEN,
              })
            : await operator.unlock(holder.lockId);
        assert.equal(res.status, 200, `${flavour} force-unlock (${body})`);
        const late = await holder.put(tfState({ lineage, serial: 2 }));
        assert.equal(late.status, 409, "a holder that lost its lock cannot write");
        assert.match(JSON.parse(late.text).error.message, /no longer holds/);
        assert.equal((await holder.get()).text, tfState({ lineage, serial: 1 }));
      }
    });

    test("unlocking with another lock's ID is 423 with the holder; the lock stays", async () => {
      const a = client("wrong-unlock");
      assert.equal((await a.lock(lockInfo("OperationTypeApply"))).status, 200);
      const b = client("wrong-unlock");
      const res = await b.unlock(randomUUID());
      assert.equal(res.status, 423);
      assert.equal(JSON.parse(res.text).ID, a.lockId);
      assert.equal(
        (await client("wrong-unlock").lock(lockInfo("OperationTypePlan"))).status,
        423,
        "still locked",
      );
      assert.equal((await a.unlock()).status, 200);
    });

    test("OpenTofu with lock_method=POST and unlock_method=DELETE on …/lock, and a client-side encrypted state kept byte for byte", async () => {
      const stack = "tofu";
      const tofu = client(stack, {
        flavour: "opentofu",
        lockAddress: `${server.url}/tf/webshop/${stack}/lock`,
        unlockAddress: `${server.url}/tf/webshop/${stack}/lock`,
        lockMethod: "POST",
        unlockMethod: "DELETE",
      });
      assert.equal((await tofu.lock(lockInfo("OperationTypeApply", "carol@tofu"))).status, 200);
      const encrypted = `{"serial":3,"lineage":"${randomUUID()}","meta":{"key_provider.pbkdf2.main":"eyJzYWx0Ijoi"},"encrypted_data":"c2VjcmV0IHN0YXRl","encryption_version":"v0"}`;
      assert.equal((await tofu.put(encrypted)).status, 200);
      assert.equal((await tofu.get()).text, encrypted);
      const second = client(stack, {
        lockAddress: `${server.url}/tf/webshop/${stack}/lock`,
        lockMethod: "POST",
      });
      assert.equal((await second.lock(lockInfo("OperationTypePlan"))).status, 423);
      assert.equal((await tofu.unlock()).status, 200);
    });

    test("versions: GET …/versions lists revisions newest first; GET …/versions/<rev> returns that state", async () => {
      const tf = client("versions");
      const lineage = randomUUID();
      const states = [1, 2, 3].map((serial) => tfState({ lineage, serial, tag: `t${serial}` }));
      for (const s of states) assert.equal((await tf.put(s)).status, 200);
      const auth = { username: "x", password: ADMIN_TOKEN };
      const list = await rawRequest("GET", `${server.url}/tf/webshop/versions/versions`, undefined, auth);
      assert.equal(list.status, 200);
      const { versions, current } = JSON.parse(list.text);
      assert.equal(versions.length, 3);
      assert.equal(versions[0].rev, current, "newest first");
      const oldest = await rawRequest(
        "GET",
        `${server.url}/tf/webshop/versions/versions/${encodeURIComponent(versions[2].rev)}`,
        undefined,
        auth,
      );
      assert.equal(oldest.status, 200);
      assert.equal(oldest.text, states[0]);
      const missing = await rawRequest(
        "GET",
        `${server.url}/tf/webshop/versions/versions/2020-01-01T00:00:00Z`,
        undefined,
        auth,
      );
      assert.equal(missing.status, 404);
    });

    test("rollback with the CLI is a new revision the clients then read", async () => {
      const tf = client("rollback");
      const lineage = randomUUID();
      const v1 = tfState({ lineage, serial: 1, tag: "good" });
      assert.equal((await tf.put(v1)).status, 200);
      assert.equal((await tf.put(tfState({ lineage, serial: 2, tag: "bad" }))).status, 200);
      const rb = await cli("rollback", "rollback", "--to", "current~1");
      assert.equal(rb.code, 0, rb.stderr);
      assert.equal((await tf.get()).text, v1, "the old state, byte for byte");
      const history = JSON.parse((await cli("rollback", "history", "--json")).stdout);
      assert.equal(history.revisions.length, 3, "history was not rewritten");
    });

    test("hostile input gets a 4xx naming what was wrong, writes nothing, and the server stays up", async () => {
      const auth = { username: "x", password: ADMIN_TOKEN };
      const url = `${server.url}/tf/webshop/hostile`;
      const cases: Array<[string, Promise<{ status: number; text: string }>, number, RegExp]> = [
        [
          "malformed JSON",
          rawRequest("POST", url, Buffer.from("{not json"), auth),
          400,
          /not a Terraform state|JSON/,
        ],
        ["not an object", rawRequest("POST", url, Buffer.from("[1,2]"), auth), 400, /object/],
        ["no serial", rawRequest("POST", url, Buffer.from('{"lineage":"x"}'), auth), 400, /serial/],
        ["empty body", rawRequest("POST", url, new Uint8Array(), auth), 400, /empty/],
        [
          "Content-MD5 mismatch",
          rawRequest("POST", url, Buffer.from(tfState({ lineage: "l", serial: 1 })), {
            ...auth,
            headers: { "content-md5": md5(Buffer.from("something else")) },
          }),
          400,
          /Content-MD5/,
        ],
        ["invalid UTF-8", rawRequest("POST", url, Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), auth), 400, /UTF-8/],
        ["a lock without an ID", rawRequest("LOCK", url, Buffer.from('{"Who":"x"}'), auth), 400, /ID/],
        ["a lock that is not JSON", rawRequest("LOCK", url, Buffer.from("nope"), auth), 400, /JSON/],
        ["a traversal name", rawRequest("GET", `${server.url}/tf/webshop/..`, undefined, auth), 400, /stack/],
        [
          "an encoded traversal",
          rawRequest("GET", `${server.url}/tf/%2e%2e/prod`, undefined, auth),
          400,
          /factory/,
        ],
        [
          "a control character",
          rawRequest("GET", `${server.url}/tf/webshop/a%00b`, undefined, auth),
          400,
          /stack/,
        ],
        ["an unknown method", rawRequest("PATCH", url, Buffer.from("{}"), auth), 405, /PATCH/],
        ["DELETE of a state", rawRequest("DELETE", url, undefined, auth), 405, /DELETE/],
        [
          "an unknown path",
          rawRequest("GET", `${server.url}/nope`, undefined, auth),
          404,
          /no such resource/,
        ],
        [
          "a deeper path",
          rawRequest("GET", `${server.url}/tf/a/b/c/d/e`, undefined, auth),
          404,
          /no such resource/,
        ],
      ];
      for (const [what, pending, status, pattern] of cases) {
        const res = await pending;
        assert.equal(res.status, status, `${what}: ${res.text}`);
        assert.match(res.text, pattern, what);
      }
      assert.equal((await rawRequest("GET", url, undefined, auth)).status, 204, "nothing was stored");
      assert.equal((await rawRequest("GET", `${server.url}/healthz`, undefined)).status, 200, "still up");
    });

    test("authentication: 401 without or with a wrong token (with a challenge), 200 with the token as basic password or bearer", async () => {
      const url = `${server.url}/tf/webshop/auth`;
      const none = await rawRequest("GET", url, undefined);
      assert.equal(none.status, 401);
      assert.match(String(none.headers["www-authenticate"]), /Basic/);
      assert.equal(
        (
          await rawRequest("GET", url, undefined, {
            username: "terraform",
            password: "wrong-token-wrong-token",
          })
        ).status,
        401,
      );
      assert.equal(
        (await rawRequest("GET", url, undefined, { username: "terraform", password: ADMIN_TOKEN })).status,
        204,
      );
      assert.equal(
        (await rawRequest("GET", url, undefined, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }))
          .status,
        204,
      );
    });

    test("every response carries a request id; the access log has a line per request and no credential or lock id", async () => {
      const tf = client("logged");
      const info = lockInfo("OperationTypeApply");
      const res = await tf.lock(info);
      assert.match(String(res.headers["x-request-id"]), /^[A-Za-z0-9_-]{8,}$/);
      assert.equal((await tf.put(tfState({ lineage: randomUUID(), serial: 1 }))).status, 200);
      await tf.unlock();
      const given = await rawRequest("GET", `${server.url}/healthz`, undefined, {
        headers: { "x-request-id": "trace-42" },
      });
      assert.equal(given.headers["x-request-id"], "trace-42", "a client's request id is kept");
      const logged = (all: Array<Record<string, unknown>>) =>
        all.filter((l) => String(l.path).startsWith("/tf/webshop/logged"));
      const lines = logged(await server.accessLogWhen((all) => logged(all).length >= 3));
      assert.ok(lines.length >= 3, `one line per request (found ${lines.length})`);
      assert.ok(
        lines.every(
          (l) => typeof l.id === "string" && typeof l.status === "number" && l.principal === "admin",
        ),
      );
      assert.ok(!server.stderr().includes(ADMIN_TOKEN), "the token is never logged");
      assert.ok(!server.stderr().includes(info.ID), "nor the lock id from the query string");
      assert.ok(!server.stderr().includes(Buffer.from(`terraform:${ADMIN_TOKEN}`).toString("base64")));
    });

    test("a state kept by statekeeper snapshots is not served as Terraform state (409), and is not replaced", async () => {
      const pushed = await sk(["--store", store, "--factory", "webshop", "--stack", "prod", "push", "-"], {
        cwd,
        env: { STATEKEEPER_KEY: KEY },
        input: JSON.stringify({
          "format-version": 1,
          stack: { name: "webshop", version: "1", "content-revision": "x" },
          "deployment-id": "prod",
          "generated-at": "2026-12-01T00:00:00Z",
          entries: [],
        }),
      });
      assert.equal(pushed.code, 0, pushed.stderr);
      const tf = client("prod");
      assert.equal((await tf.get()).status, 409);
      assert.equal((await tf.put(tfState({ lineage: "l", serial: 1 }))).status, 409);
    });
  });
}
