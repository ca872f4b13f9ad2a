// Where the web view's time goes (bench scenario 11, docs/benchmarks.md): the stacks page and the
// diff page of a large store, split into phases, in one process. Not part of `npm run bench`:
// node --import tsx bench/children/web-view-phases.ts [stacks] [entries]
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { listStacks } from "../../src/admin/stacks.js";
import { createBackend } from "../../src/backend/index.js";
import { keyEncrypter } from "../../src/crypto/index.js";
import { mapBounded } from "../../src/internal/bounded.js";
import { fileStore } from "../../src/objectstore/file.js";
import { createAuthenticator } from "../../src/server/auth.js";
import { createStateServer } from "../../src/server/server.js";
import { diffSnapshots } from "../../src/snapshot/index.js";
import { benchKey, makeEntry, makeSnapshot } from "../lib/fixtures.js";

const stacks = Number(process.argv[2] ?? 1000);
const entries = Number(process.argv[3] ?? 15000);
const dir = await mkdtemp(join(tmpdir(), "statekeeper-bench-web-phases-"));
// Wall ms, and this process's CPU ms (all threads): on a shared machine the CPU time says more.
const phases: Record<string, string> = {};
const time = async <T>(name: string, fn: () => Promise<T> | T): Promise<T> => {
  const cpu = process.cpuUsage();
  const t = performance.now();
  const v = await fn();
  const used = process.cpuUsage(cpu);
  phases[name] =
    `${Math.round(performance.now() - t)} ms (cpu ${Math.round((used.user + used.system) / 1000)} ms)`;
  return v;
};
try {
  const store = fileStore(dir);
  const encrypter = keyEncrypter({ key: benchKey() });
  await mapBounded(
    Array.from({ length: stacks }, (_, i) => i),
    8,
    async (i) => {
      const b = createBackend(store, { factory: "bench", stack: `s${i}`, encrypter });
      await b.commit(makeSnapshot(`s${i}`, 5, i));
    },
  );
  await time("stacks: listStacks before the big stack exists", () => listStacks(store));
  const big = createBackend(store, { factory: "bench", stack: "big", encrypter });
  const snapshot = makeSnapshot("big", entries);
  const from = await big.commit(snapshot);
  for (let c = 0; c < 300; c++)
    snapshot.entries[(c * 7919) % (entries - 20)] = makeEntry((c * 7919) % (entries - 20), 1);
  const to = await big.commit(snapshot);

  const list = await time("stacks: listStacks (pointers + locks)", () => listStacks(store));
  await time("stacks: readRevision of every current (concurrency 4)", () =>
    mapBounded(list, 4, async (s) =>
      s.current === null
        ? 0
        : (
            await createBackend(store, { factory: s.factory, stack: s.stack, encrypter }).readRevision(
              s.current,
            )
          ).snapshot.entries.length,
    ),
  );
  const before = await time("diff: get(from)", () => big.get(from));
  const after = await time("diff: get(to)", () => big.get(to));
  await time("diff: diffSnapshots", () => diffSnapshots(before, after));
  await time("diff: get(from) and get(to) at once, as the page does", () =>
    Promise.all([big.get(from), big.get(to)]),
  );

  const token = "phases-token-for-the-web-view";
  const server = createStateServer({ store, encrypter, auth: createAuthenticator({ adminToken: token }) });
  const { port } = await server.listen("127.0.0.1", 0);
  const get = async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    return (await res.text()).length;
  };
  await time("stacks page, cold (whole request; counts not known in 250 ms left pending)", () => get("/ui/"));
  await time("stacks page sorted by entries (waits for every count: the cold counting)", () =>
    get("/ui/?sort=entries"),
  );
  await time("stacks page, warm (whole request)", () => get("/ui/"));
  await time("stacks page, warm again", () => get("/ui/"));
  const diffPath = `/ui/stacks/bench/big/diff?${new URLSearchParams({ from, to }).toString()}`;
  await time("diff page (whole request)", () => get(diffPath));
  await time("diff page again (rendered page kept)", () => get(diffPath));
  await server.close(1000);
  process.stdout.write(`${JSON.stringify(phases, null, 1)}\n`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
