// `statekeeper serve` across process lifetimes, on one store: client locks that outlive a
// kill -9, updates cut off by a kill -9 at a random moment, and two server processes sharing
// one store. Run on the file store (lifecycle.test.ts) and on a real Ceph RGW (lifecycle-s3.test.ts).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { ensureBuilt, sk, tempDir } from "../cli/helpers.js";
import { type RunningServer, startServer } from "./support.js";
import { lockInfo, rawRequest, streamRequest, TfClient, type TfResponse, tfState } from "./tf-client.js";

export const ADMIN_TOKEN = "admin-token-for-the-lifecycle-suite";
export const KEY = Buffer.alloc(32, 11).toString("base64");

export interface LifecycleSuiteOptions {
  /** A fresh store URL for each call. */
  storeUrl: () => string;
  /** How many kill -9 rounds the mid-update test runs. */
  crashRounds: number;
  /** Resources in each state the mid-update test sends (8000 ≈ 3.3 MB). */
  crashResources: number;
}

export function lifecycleSuite(label: string, options: LifecycleSuiteOptions): void {
  describe(`statekeeper serve across restarts and processes (${label})`, () => {
    const cwd = tempDir("serve-life");
    const env = { STATEKEEPER_SERVER_TOKEN: ADMIN_TOKEN, STATEKEEPER_KEY: KEY };
    const started: RunningServer[] = [];
    const start = async (store: string) => {
      const server = await startServer({ store, env, cwd });
      started.push(server);
      return server;
    };
    const client = (server: RunningServer, stack: string, who = "alice@laptop") =>
      new TfClient({
        address: `${server.url}/tf/webshop/${stack}`,
        username: "terraform",
        password: ADMIN_TOKEN,
        who,
      });
    /** The same client (same lock id) talking to another server. */
    const through = (server: RunningServer, tf: TfClient, stack: string) => {
      const moved = client(server, stack, tf.opts.who);
      moved.lockId = tf.lockId;
      moved.jsonLockInfo = tf.jsonLockInfo;
      return moved;
    };
    const cli = (store: string, stack: string, ...args: string[]) =>
      sk(["--store", store, "--factory", "webshop", "--stack", stack, ...args], {
        cwd,
        env: { STATEKEEPER_KEY: KEY },
      });
    /** A LOCK by someone else must be 423 naming `holder`'s lock. */
    const assertHeldBy = async (server: RunningServer, stack: string, holder: TfClient, why: string) => {
      const other = await client(server, stack, "bob@ci").lock(lockInfo("OperationTypePlan", "bob@ci"));
      assert.equal(other.status, 423, `${why}: ${other.text}`);
      const body = JSON.parse(other.text) as { ID: string; Who: string };
      assert.equal(body.ID, holder.lockId, `${why}: the 423 names the holder's lock`);
      assert.equal(body.Who, holder.opts.who, `${why}: …and who holds it`);
    };

    before(async () => {
      await ensureBuilt();
    });
    after(async () => {
      // A test that failed half-way leaves its servers running: stop them (exit codes are checked in the tests).
      for (const s of started) if (s.child.exitCode === null && s.child.signalCode === null) await s.kill9();
    });

    test("a client lock survives kill -9: after a restart another LOCK is 423 with the holder's LockInfo, the holder's ?ID update lands, UNLOCK frees it", async () => {
      const store = options.storeUrl();
      const first = await start(store);
      const alice = client(first, "crash-lock");
      const lineage = randomUUID();
      const info = lockInfo("OperationTypeApply", "alice@laptop");
      assert.equal((await alice.lock(info)).status, 200);
      const s1 = tfState({ lineage, serial: 1, tag: "one" });
      assert.equal((await alice.put(s1)).status, 200);
      assert.equal(await first.kill9(), "SIGKILL");

      const second = await start(store);
      await assertHeldBy(second, "crash-lock", alice, "after the crash");
      const again = through(second, alice, "crash-lock");
      assert.equal((await again.get()).text, s1, "the acknowledged update survived the crash");
      const s2 = tfState({ lineage, serial: 2, tag: "two" });
      const put = await again.put(s2);
      assert.equal(
        put.status,
        200,
        `the holder's update with ?ID=${info.ID} lands after the restart: ${put.text}`,
      );
      assert.equal((await again.get()).text, s2);
      assert.equal((await again.unlock()).status, 200);
      const bob = client(second, "crash-lock", "bob@ci");
      assert.equal(
        (await bob.lock(lockInfo("OperationTypePlan", "bob@ci"))).status,
        200,
        "free after UNLOCK",
      );
      assert.equal((await bob.unlock()).status, 200);
      assert.equal(await second.stop(), 0);
    });

    test(`kill -9 at a random moment of a large update (${options.crashRounds} rounds): the state is the last acknowledged one or the one in flight, verify passes, the lock is still held`, async (t) => {
      const store = options.storeUrl();
      const stack = "crash-update";
      const lineage = randomUUID();
      let server = await start(store);
      const holder = client(server, stack);
      assert.equal((await holder.lock(lockInfo("OperationTypeApply"))).status, 200);
      const stateOf = (serial: number) =>
        tfState({ lineage, serial, tag: `round-${serial}`, resources: options.crashResources });
      /** The holder's update as the Go client sends it, the body written at once. */
      const send = (text: string) => {
        const body = Buffer.from(text);
        const url = `${server.url}/tf/webshop/${stack}?ID=${encodeURIComponent(holder.lockId)}`;
        const req = streamRequest("POST", url, body, { username: "terraform", password: ADMIN_TOKEN });
        const sent = req.write(body).then(() => req.end());
        sent.catch(() => undefined);
        return { sent, response: req.response };
      };
      // One uninterrupted update shows how long sending the body and then storing it take here:
      // the kills land at random moments of those two phases, alternately. An update answered
      // before its kill tells how long storing takes now (it varies with the machine's load).
      let acknowledged = stateOf(1);
      const t0 = performance.now();
      const baseline = send(acknowledged);
      await baseline.sent;
      const uploadMs = performance.now() - t0;
      const t1 = performance.now();
      assert.equal((await baseline.response).status, 200);
      let storeMs = performance.now() - t1;
      const outcomes: string[] = [];

      for (let round = 0; round < options.crashRounds; round++) {
        const serial = round + 2;
        const inFlight = stateOf(serial);
        const phase = round % 2 === 0 ? "upload" : "store";
        const { sent, response } = send(inFlight);
        let answered: TfResponse | Error | undefined;
        let answeredAt = 0;
        const settled = response.then(
          (r) => {
            answered = r;
            answeredAt = performance.now();
          },
          (e: Error) => {
            answered = e;
          },
        );
        if (phase === "store") await sent;
        const sentAt = performance.now();
        const delay = Math.random() * (phase === "upload" ? uploadMs : storeMs * 1.1);
        await sleep(delay);
        const moment = `${phase}+${delay.toFixed(0)}ms`;
        const answeredBeforeKill = answered !== undefined;
        assert.equal(await server.kill9(), "SIGKILL");
        await settled;
        if (phase === "store" && answeredBeforeKill && !(answered instanceof Error))
          storeMs = answeredAt - sentAt;
        const acked = !(answered instanceof Error) && answered?.status === 200;
        if (answered !== undefined && !(answered instanceof Error) && !acked)
          assert.fail(`round ${round}: refused before the kill: ${answered.status} ${answered.text}`);

        server = await start(store);
        const got = await through(server, holder, stack).get();
        assert.equal(got.status, 200, `round ${round}: the state is there after the restart`);
        const landed = got.text === inFlight;
        assert.ok(
          landed || got.text === acknowledged,
          `round ${round} (killed at ${moment}): the state is neither the last acknowledged one (serial ${serial - 1}) nor the one in flight (serial ${serial}), byte for byte`,
        );
        if (acked) assert.ok(landed, `round ${round}: an acknowledged update was lost`);
        if (landed) acknowledged = inFlight;
        outcomes.push(`${moment}:${answeredBeforeKill ? "answered" : landed ? "landed" : "lost"}`);
        const verify = await cli(store, stack, "verify");
        assert.equal(verify.code, 0, `round ${round}: statekeeper verify\n${verify.stdout}${verify.stderr}`);
        await assertHeldBy(server, stack, holder, `round ${round}`);
      }
      t.diagnostic(
        `upload ${uploadMs.toFixed(0)} ms, store ${storeMs.toFixed(0)} ms; kills: ${outcomes.join(" ")}`,
      );

      const last = through(server, holder, stack);
      const next = stateOf(options.crashRounds + 2);
      assert.equal((await last.put(next)).status, 200, "the holder goes on writing under its lock");
      assert.equal((await last.get()).text, next);
      assert.equal((await last.unlock()).status, 200);
      assert.equal(await server.stop(), 0);
    });

    test("two server processes over one store: a lock taken through A is held in B, the holder's update through B is read through A, unlock through B frees it for A", async () => {
      const store = options.storeUrl();
      const [a, b] = await Promise.all([start(store), start(store)]);
      const lineage = randomUUID();
      const aliceA = client(a, "shared");
      assert.equal((await aliceA.lock(lockInfo("OperationTypeApply"))).status, 200);
      const s1 = tfState({ lineage, serial: 1, tag: "via-a" });
      assert.equal((await aliceA.put(s1)).status, 200);

      await assertHeldBy(b, "shared", aliceA, "LOCK through B");
      const intruder = await rawRequest(
        "POST",
        `${b.url}/tf/webshop/shared`,
        Buffer.from(tfState({ lineage, serial: 2, tag: "intruder" })),
        { username: "x", password: ADMIN_TOKEN },
      );
      assert.equal(intruder.status, 423, "an update without the ID is refused through B as well");

      const aliceB = through(b, aliceA, "shared");
      const s2 = tfState({ lineage, serial: 2, tag: "via-b" });
      assert.equal((await aliceB.put(s2)).status, 200, "the holder's update through B");
      assert.equal((await aliceA.get()).text, s2, "A serves what was written through B");
      assert.equal((await aliceB.unlock()).status, 200, "unlock through B");
      const bobA = client(a, "shared", "bob@ci");
      assert.equal(
        (await bobA.lock(lockInfo("OperationTypePlan", "bob@ci"))).status,
        200,
        "free for a LOCK via A",
      );
      assert.equal((await bobA.unlock()).status, 200);
      const history = JSON.parse((await cli(store, "shared", "history", "--json")).stdout);
      assert.equal(history.revisions.length, 2, "one revision per accepted update, whichever server took it");
      assert.deepEqual(await Promise.all([a.stop(), b.stop()]), [0, 0]);
    });
  });
}
