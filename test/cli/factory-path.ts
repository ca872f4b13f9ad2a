// One scenario for a factory named like a Go module path (github.com/acme/webshop, as unobin's
// factories were): pushed, listed, read back and rejected when malformed through the real binary,
// on whatever store URL it is given (the file store in cli-factory-path.test.ts, RGW in cli-s3.test.ts).
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { newKey, sk, tempDir, V1, V2 } from "./helpers.js";

export const MODULE = "github.com/acme/webshop";
/** The one key segment the module path is stored under (`factoryKey`). */
export const MODULE_KEY = "github.com~acme~webshop";

/** `path` (an example snapshot) as a snapshot of `factory`, written into `dir`; returns its path. */
function asFactory(path: string, factory: string, dir: string): string {
  const doc = JSON.parse(readFileSync(path, "utf8"));
  doc.stack.name = factory;
  const out = join(dir, `${factory.replaceAll("/", "_")}-${path.split("/").pop()}`);
  writeFileSync(out, JSON.stringify(doc));
  return out;
}

/**
 * Pushes two revisions of `MODULE/prod` and one of `webshop/prod` to `store`; checks `stacks
 * --json` names the module path, `history`/`pull` read it back with `--factory MODULE`, and the
 * keys `listKeys` returns (relative to the store's root) are the encoded form for the module and
 * the unchanged form for the plain factory.
 */
export async function factoryPathRoundTrip(store: string, listKeys: () => Promise<string[]>): Promise<void> {
  const cwd = tempDir("factory-path");
  const K = newKey();
  const env = { STATEKEEPER_KEY: K, STATEKEEPER_STORE: store, STATEKEEPER_STACK: "prod" };
  const nested = { ...env, STATEKEEPER_FACTORY: MODULE };
  const revs: string[] = [];
  for (const f of [V1, V2]) {
    const r = await sk(["push", asFactory(f, MODULE, cwd)], { cwd, env: nested });
    assert.equal(r.code, 0, r.stderr);
    revs.push(r.stdout.trim());
  }
  const plain = await sk(["push", V1], { cwd, env: { ...env, STATEKEEPER_FACTORY: "webshop" } });
  assert.equal(plain.code, 0, plain.stderr);
  const plainRev = plain.stdout.trim();

  const listed = await sk(["stacks", "--json"], { cwd, env });
  assert.equal(listed.code, 0, listed.stderr);
  assert.deepEqual(
    JSON.parse(listed.stdout).stacks.map(
      (s: { factory: string; stack: string; current: string; revisions: number }) => [
        s.factory,
        s.stack,
        s.current,
        s.revisions,
      ],
    ),
    [
      [MODULE, "prod", revs[1], 2],
      ["webshop", "prod", plainRev, 1],
    ],
  );
  const human = await sk(["stacks"], { cwd, env });
  assert.match(human.stdout, /\ngithub\.com\/acme\/webshop\s+prod\s/);

  // Read back by its name, through --factory as well as the environment.
  const { STATEKEEPER_FACTORY: _, ...noFactory } = nested;
  const h = await sk(["--factory", MODULE, "history", "--json"], { cwd, env: noFactory });
  assert.equal(h.code, 0, h.stderr);
  const history = JSON.parse(h.stdout);
  assert.equal(history.factory, MODULE);
  assert.deepEqual(
    history.revisions.map((r: { rev: string }) => r.rev),
    revs,
  );
  const pulled = await sk(["--factory", MODULE, "pull", revs[0] as string], { cwd, env: noFactory });
  assert.equal(pulled.code, 0, pulled.stderr);
  assert.equal(JSON.parse(pulled.stdout).stack.name, MODULE);

  // On the store: the module path under one encoded segment, the plain factory as it always was;
  // each a stack headed by its log (a revision is its commit entry, in the first segment).
  const keys = (await listKeys()).sort();
  const entry = (rev: string) => `log/${"0".repeat(16)}/${rev.padStart(16, "0")}`;
  assert.ok(
    keys.every((k) => k.startsWith(`${MODULE_KEY}/prod/`) || k.startsWith("webshop/prod/")),
    keys.join(" "),
  );
  for (const k of [
    `${MODULE_KEY}/prod/head`,
    `${MODULE_KEY}/prod/${entry(revs[0] as string)}`,
    `${MODULE_KEY}/prod/${entry(revs[1] as string)}`,
    "webshop/prod/head",
    `webshop/prod/${entry(plainRev)}`,
  ])
    assert.ok(keys.includes(k), `${k} in ${keys.join(" ")}`);

  // Malformed module paths are usage errors naming the factory, before any I/O.
  for (const [bad, why] of [
    ["github.com//webshop", /empty segment/],
    ["github.com/../webshop", /'\.\.'/],
    [`${MODULE}/`, /empty segment/],
    [MODULE_KEY, /only letters, digits/],
  ] as const) {
    const r = await sk(["--factory", bad, "history"], { cwd, env: noFactory });
    assert.equal(r.code, 2, `${bad}: ${r.stderr}`);
    assert.match(r.stderr, /factory/);
    assert.match(r.stderr, why);
  }
}
