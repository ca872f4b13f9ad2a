// Importing stacks unobin's localstate wrote (folders built by test/support/unobin.ts exactly as
// its Go code writes them) into statekeeper, on the file store: every shape, both encrypters,
// sealed raw or in unobin's envelope; refusals; round trips; the source never modified.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  type ImportUnobinPhase,
  importUnobinStack,
  openUnobinStack,
  unobinEnvKeyEncrypter,
  unobinNoopEncrypter,
  verifyStack,
} from "../../src/admin/index.js";
import { createBackend } from "../../src/backend/index.js";
import { keyEncrypter, noopEncrypter } from "../../src/crypto/index.js";
import type { Encrypter } from "../../src/crypto/types.js";
import type { ErrorCode } from "../../src/errors.js";
import { fileStore } from "../../src/objectstore/file.js";
import { encodeSnapshot, newSnapshot } from "../../src/snapshot/index.js";
import { UNOBIN_STATE_MEDIA_TYPE, unobinView } from "../../src/snapshot/unobin.js";
import { rejectsWithCode } from "../../src/testing/assertions.js";
import { statekeeperSnapshotOf } from "../../src/unobin/index.js";
import { recorder } from "../admin/support.js";
import { tempDir } from "../cli/helpers.js";
import {
  documentedSnapshot,
  factoryStackSnapshot,
  type GoRevision,
  type GoSealing,
  goEncodeSnapshot,
  goRfc3339Nano,
  goSeal,
  moduleCallSnapshot,
  newUnobinKey,
  UNOBIN_FIXTURE_SNAPSHOT_V1,
  writeLocalStateStack,
} from "../support/unobin.js";
import { fingerprint } from "./fingerprint.js";

const FACTORY = "webshop";
const STACK = "prod";
const REV1 = goRfc3339Nano("2026-05-12T15:30:00Z", 123_456_789);
const REV2 = goRfc3339Nano("2026-05-12T15:30:00Z", 123_456_789).concat("_1"); // a same-nanosecond collision
const REV3 = goRfc3339Nano("2026-05-12T15:31:00Z", 500_000_000); // ".5Z": Go trims trailing zeros
const REV4 = goRfc3339Nano("2026-05-12T15:32:00Z"); // no fraction at all

/** The plaintexts of a history in all three shapes: documented, module-call, factory-stack, documented. */
function history(factory = FACTORY, stack = STACK): Array<{ rev: string; plaintext: Uint8Array }> {
  return [
    { rev: REV1, plaintext: goEncodeSnapshot(moduleCallSnapshot(factory, stack, `${REV1}`)) },
    { rev: REV2, plaintext: goEncodeSnapshot(documentedSnapshot(factory, stack, REV1, 1)) },
    { rev: REV3, plaintext: goEncodeSnapshot(factoryStackSnapshot(factory, stack, REV3)) },
    { rev: REV4, plaintext: goEncodeSnapshot(documentedSnapshot(factory, stack, REV4, 2)) },
  ];
}

function sealAll(plain: ReturnType<typeof history>, sealing: GoSealing): GoRevision[] {
  return plain.map(({ rev, plaintext }) => ({ rev, sealed: goSeal(plaintext, sealing) }));
}

function target(encrypter: Encrypter = noopEncrypter(), root = tempDir("unobin-target")) {
  return createBackend(fileStore(root), {
    factory: FACTORY,
    stack: STACK,
    encrypter,
    lockDefaults: { leaseMs: 30_000, pollMs: 20 },
    head: "pointer",
  });
}

describe("unobin snapshot shapes", () => {
  it("unobin's own fixture (snapshot-v1.json) reads as the factory-stack shape, its binding as the kind", () => {
    const view = unobinView(UNOBIN_FIXTURE_SNAPSHOT_V1);
    assert.equal(view.shape, "factory-stack");
    assert.deepEqual(view.factory, {
      name: "cluster-deploy",
      version: "v2.0.3",
      contentRevision: "abc123def456",
    });
    assert.equal(view.stack, "prod-east-alpha");
    assert.deepEqual(view.entries, [
      {
        address: "resource.main",
        type: "leaf",
        kind: "aws.vpc",
        schemaVersion: 1,
        inputs: { "cidr-block": "10.0.0.0/16" },
        outputs: { id: "vpc-abc" },
      },
    ]);
  });

  it("the module-call shape: module-call entries read as library calls, sensitive-fields masked both ways", () => {
    const view = unobinView(new TextDecoder().decode(goEncodeSnapshot(moduleCallSnapshot("f", "s", REV1))));
    assert.equal(view.shape, "module-call");
    assert.deepEqual(view.factory, { name: "f", version: "v1.2.0", contentRevision: "abc123" });
    const db = view.entries.find((e) => e.address === "db.primary");
    assert.deepEqual(
      [db?.type, db?.library, db?.libraryType, db?.sensitiveInputs, db?.sensitiveOutputs],
      ["library-call", "github.com/acme/db", "Postgres", ["password"], ["password"]],
    );
  });

  it("the factory-stack shape's data sources and library calls; the documented shape as it is", () => {
    const fs = unobinView(new TextDecoder().decode(goEncodeSnapshot(factoryStackSnapshot("f", "s", REV1))));
    assert.deepEqual(
      fs.entries.map((e) => [e.address, e.type, e.kind ?? `${e.library}.${e.libraryType}`]),
      [
        ["resource.main", "leaf", "aws.vpc"],
        ["data-source.ami", "leaf", "data-source:aws.ami"],
        ["resource.db", "library-call", "github.com/acme/db.postgres"],
      ],
    );
    const doc = unobinView(new TextDecoder().decode(goEncodeSnapshot(documentedSnapshot("f", "s", REV1))));
    assert.equal(doc.shape, "documented");
    assert.equal(
      doc.entries[0]?.inputs?.tags && (doc.entries[0].inputs.tags as Record<string, string>)["cost-centre"],
      "<r&d>",
    );
  });

  it("the factory-stack shape's earlier forms: type + kind (b3319bb5), entry-kind + node-kind + selector (d2043805)", () => {
    const early = {
      "format-version": 1,
      factory: { name: "f", version: "1", "content-revision": "c" },
      stack: "s",
      "generated-at": REV1,
      entries: [
        { address: "a", type: "leaf", kind: "aws:vpc" },
        { address: "b", type: "data", kind: "aws:ami" },
        { address: "c", type: "library-call", library: "lib", "library-type": "T" },
      ],
    };
    assert.deepEqual(
      unobinView(JSON.stringify(early)).entries.map((e) => [e.type, e.kind, e.library, e.libraryType]),
      [
        ["leaf", "aws:vpc", undefined, undefined],
        ["leaf", "data-source:aws:ami", undefined, undefined],
        ["library-call", undefined, "lib", "T"],
      ],
    );
    const selector = {
      ...early,
      entries: [
        {
          address: "a",
          "entry-kind": "action",
          "node-kind": "action",
          selector: { alias: "slack", export: "post" },
        },
      ],
    };
    assert.deepEqual(unobinView(JSON.stringify(selector)).entries, [
      { address: "a", type: "action", kind: "slack.post" },
    ]);
  });

  it("a documented snapshot is stored natively only when nothing is lost; otherwise kept byte for byte", () => {
    const text = (o: unknown) => new TextDecoder().decode(goEncodeSnapshot(o));
    const revision = (t: string) => ({
      rev: REV1,
      text: t,
      sealing: "raw" as const,
      view: unobinView(t),
      size: t.length,
    });
    const plain = text(documentedSnapshot("f", "s", REV1));
    assert.equal(statekeeperSnapshotOf(revision(plain), "f", "s").storedAs, "native");
    const extra = documentedSnapshot("f", "s", REV1) as Record<string, unknown>;
    (extra.entries as Array<Record<string, unknown>>)[0]!.selector = { alias: "aws", export: "vpc" };
    const big = documentedSnapshot("f", "s", REV1);
    big.outputs = { n: 7 } as never;
    for (const [why, t, factory, stack] of [
      ["a field statekeeper has no place for", text(extra), "f", "s"],
      ["another stack name inside", plain, "f", "other"],
      ["a number past 2^53", text(big).replace('"n": 7', '"n": 12345678901234567890'), "f", "s"],
    ] as const) {
      const { snapshot, storedAs } = statekeeperSnapshotOf(revision(t), factory, stack);
      assert.equal(storedAs, "document", why);
      assert.equal(snapshot.document?.text, t, why);
    }
  });

  it("refuses another shape naming what it saw, another format-version, and what unobin itself refused", () => {
    assert.throws(
      () => unobinView(JSON.stringify({ "format-version": 1, stack: 7, entries: [] })),
      (e: Error & { code?: string }) =>
        e.code === "E_CORRUPT" &&
        /shape this build does not know \(format-version: a number, stack: a number, entries: a list\)/.test(
          e.message,
        ),
    );
    assert.throws(
      () => unobinView(JSON.stringify({ "format-version": 2, stack: {}, "deployment-id": "s" })),
      (e: Error & { code?: string }) => e.code === "E_FORMAT_VERSION" && /format-version 2/.test(e.message),
    );
    const dup = documentedSnapshot("f", "s", REV1);
    dup.entries.push(dup.entries[0]);
    assert.throws(
      () => unobinView(JSON.stringify(dup)),
      (e: Error & { code?: string }) => e.code === "E_CORRUPT" && /duplicate address/.test(e.message),
    );
    const noKind = moduleCallSnapshot("f", "s", REV1);
    delete (noKind.entries[0] as { kind?: string }).kind;
    assert.throws(
      () => unobinView(JSON.stringify(noKind)),
      (e: Error & { code?: string }) =>
        e.code === "E_CORRUPT" && /"aws.vpc.main".*leaf without a kind/.test(e.message),
    );
  });
});

const SEALINGS: Array<{ name: string; sealing: (key: string) => GoSealing; env: boolean }> = [
  { name: "noop, raw (pkg/state/local.go)", sealing: () => ({ kind: "raw-noop" }), env: false },
  { name: "env-key, raw (pkg/state/local.go)", sealing: (key) => ({ kind: "raw-env-key", key }), env: true },
  {
    name: "noop, envelope without ref (v0.6.0)",
    sealing: () => ({ kind: "envelope-noop", ref: false }),
    env: false,
  },
  {
    name: "env-key, envelope with ref (pkg/state/local)",
    sealing: (key) => ({ kind: "envelope-env-key", key, envVar: "UNOBIN_KEY", ref: true }),
    env: true,
  },
];

for (const { name, sealing, env } of SEALINGS)
  describe(`importUnobinStack from localstate, ${name}`, () => {
    it("imports every revision of every shape under its rev name, then current; verified; pulls back what unobin wrote; the source untouched", async () => {
      const key = newUnobinKey();
      const root = tempDir("unobin-src");
      const plain = history();
      writeLocalStateStack(root, FACTORY, STACK, sealAll(plain, sealing(key)), REV3);
      const before = fingerprint(root);
      const encrypter = env
        ? unobinEnvKeyEncrypter({ envVar: "UNOBIN_KEY", env: { UNOBIN_KEY: key } })
        : unobinNoopEncrypter();
      const source = openUnobinStack(fileStore(root), { factory: FACTORY, stack: STACK, encrypter });
      const targetKey = keyEncrypter({ key: randomBytes(32) });
      const targetRoot = tempDir("unobin-target");
      const { events, onProgress } = recorder<ImportUnobinPhase>();
      const report = await importUnobinStack(source, target(targetKey, targetRoot), { onProgress });
      assert.deepEqual(report, {
        factory: FACTORY,
        stack: STACK,
        revisions: 4,
        imported: 4,
        alreadyPresent: 0,
        current: REV3,
        shapes: { documented: 2, "module-call": 1, "factory-stack": 1 },
        storedAs: { native: 2, document: 2 },
        sealing: name.includes("raw") ? { raw: 4, envelope: 0 } : { raw: 0, envelope: 4 },
        openedWith: env ? "env-key env-var UNOBIN_KEY" : "noop",
        verified: true,
        sourceAdvanced: false,
      });
      assert.deepEqual(
        events.filter((e) => e.done === e.total).map((e) => e.phase),
        ["reading", "comparing", "importing", "verifying"],
      );
      assert.deepEqual(
        fingerprint(root),
        before,
        "the unobin folder is byte for byte, mode and mtime as it was",
      );

      const imported = target(targetKey, targetRoot);
      assert.deepEqual(await imported.list(), [REV1, REV2, REV3, REV4]);
      assert.equal(await imported.currentRev(), REV3);
      for (const { rev, plaintext } of plain) {
        const { snapshot, parentRevision } = await imported.readRevision(rev);
        const original = new TextDecoder().decode(plaintext);
        if (snapshot.document !== undefined) {
          assert.equal(snapshot.document.mediaType, UNOBIN_STATE_MEDIA_TYPE);
          assert.equal(snapshot.document.text, original, `${rev} is kept byte for byte`);
        } else {
          // Native: the same JSON value (statekeeper sorts keys and writes [] for Go's null).
          assert.deepEqual(
            JSON.parse(new TextDecoder().decode(encodeSnapshot(snapshot))),
            JSON.parse(original),
          );
        }
        assert.equal(
          parentRevision,
          rev === REV1 ? undefined : plain[plain.findIndex((p) => p.rev === rev) - 1]?.rev,
        );
      }
      const verify = await verifyStack(imported);
      assert.equal(verify.ok, true, JSON.stringify(verify.problems));
      // REV4 was written after REV3 and never made current: verify says so, as unobin left it.
      assert.deepEqual(verify.orphans, [REV4]);
    });
  });

describe("a unobin factory named like a module path", () => {
  it("is read where unobin wrote it (nested folders, as filepath.Join made them) and imported under one encoded key segment", async () => {
    const module = "github.com/acme/webshop";
    const root = tempDir("unobin-src");
    const plain = history(module, STACK);
    const dir = writeLocalStateStack(root, module, STACK, sealAll(plain, { kind: "raw-noop" }), REV3);
    assert.equal(dir, join(root, "github.com", "acme", "webshop", STACK));
    const before = fingerprint(root);
    const source = openUnobinStack(fileStore(root), {
      factory: module,
      stack: STACK,
      encrypter: unobinNoopEncrypter(),
    });
    assert.deepEqual(await source.revisions(), [REV1, REV2, REV3, REV4]);
    assert.equal(await source.currentRev(), REV3);
    const targetRoot = tempDir("unobin-target");
    const into = () =>
      createBackend(fileStore(targetRoot), {
        factory: module,
        stack: STACK,
        encrypter: noopEncrypter(),
        head: "pointer",
      });
    const report = await importUnobinStack(source, into());
    assert.deepEqual(
      [report.factory, report.imported, report.current, report.verified],
      [module, 4, REV3, true],
    );
    assert.deepEqual(
      readdirSync(targetRoot).filter((n) => !n.startsWith(".")),
      ["github.com~acme~webshop"],
    );
    assert.equal(await into().currentRev(), REV3);
    assert.deepEqual(fingerprint(root), before, "the unobin folder is as it was");
    await rejectsWithCode(
      Promise.resolve().then(() =>
        openUnobinStack(fileStore(root), {
          factory: "github.com//webshop",
          stack: STACK,
          encrypter: unobinNoopEncrypter(),
        }),
      ),
      "E_INVALID_NAME",
    );
  });
});

describe("importUnobinStack refusals and re-runs", () => {
  const noop = unobinNoopEncrypter();
  const setUp = (revisions: GoRevision[], current: string | undefined, lockPid?: number) => {
    const root = tempDir("unobin-src");
    writeLocalStateStack(root, FACTORY, STACK, revisions, current, lockPid);
    return {
      root,
      source: (encrypter = noop) =>
        openUnobinStack(fileStore(root), { factory: FACTORY, stack: STACK, encrypter }),
    };
  };

  it("a re-run imports nothing and finds everything identical; unobin's newer revisions follow on the next run", async () => {
    const plain = history();
    const { root, source } = setUp(sealAll(plain.slice(0, 2), { kind: "raw-noop" }), REV2);
    const targetRoot = tempDir("unobin-target");
    await importUnobinStack(source(), target(noopEncrypter(), targetRoot));
    const again = await importUnobinStack(source(), target(noopEncrypter(), targetRoot));
    assert.deepEqual([again.imported, again.alreadyPresent, again.current], [0, 2, REV2]);
    // unobin ran on: two more revisions and a new current.
    writeLocalStateStack(root, FACTORY, STACK, sealAll(plain.slice(2), { kind: "raw-noop" }), REV4);
    const third = await importUnobinStack(source(), target(noopEncrypter(), targetRoot));
    assert.deepEqual([third.imported, third.alreadyPresent, third.current], [2, 2, REV4]);
    assert.equal(await target(noopEncrypter(), targetRoot).currentRev(), REV4);
  });

  it("a target headed by a log is refused before anything is written: unobin's names cannot be kept there", async () => {
    const { source } = setUp(sealAll(history().slice(0, 1), { kind: "raw-noop" }), REV1);
    const targetRoot = tempDir("unobin-target");
    const logged = createBackend(fileStore(targetRoot), {
      factory: FACTORY,
      stack: STACK,
      encrypter: noopEncrypter(),
      head: "log",
    });
    const err = await rejectsWithCode(importUnobinStack(source(), logged), "E_INVALID_ARGUMENT");
    assert.match(err.message, /headed by a log.*head: "pointer".*then migrate it into a log/);
    assert.deepEqual(readdirSync(targetRoot), []);
    // A backend left at the default head would start a log on the empty stack: refused alike.
    const byDefault = createBackend(fileStore(targetRoot), {
      factory: FACTORY,
      stack: STACK,
      encrypter: noopEncrypter(),
    });
    await rejectsWithCode(importUnobinStack(source(), byDefault), "E_INVALID_ARGUMENT");
    assert.deepEqual(readdirSync(targetRoot), []);
  });

  it("a held localstate lock is refused naming its pid; nothing is written", async () => {
    const { source } = setUp(sealAll(history(), { kind: "raw-noop" }), REV2, 48213);
    const targetRoot = tempDir("unobin-target");
    const err = await rejectsWithCode(
      importUnobinStack(source(), target(noopEncrypter(), targetRoot)),
      "E_LOCKED",
    );
    assert.match(err.message, /held by pid 48213 \(unobin localstate lock marker\)/);
    assert.deepEqual(readdirSync(targetRoot), []);
  });

  it("a wrong key is E_DECRYPT naming the revision and the env var, before anything is written; the key is never in the message", async () => {
    const key = newUnobinKey();
    const wrong = newUnobinKey();
    const { source } = setUp(
      sealAll(history(), { kind: "envelope-env-key", key, envVar: "UNOBIN_KEY", ref: true }),
      REV2,
    );
    const targetRoot = tempDir("unobin-target");
    const err = await rejectsWithCode(
      importUnobinStack(
        source(unobinEnvKeyEncrypter({ envVar: "OTHER", env: { OTHER: wrong } })),
        target(noopEncrypter(), targetRoot),
      ),
      "E_DECRYPT",
    );
    assert.match(
      err.message,
      new RegExp(`revision ${REV1}.*env-key env-var OTHER.*records env-var UNOBIN_KEY`),
    );
    assert.ok(!err.message.includes(key) && !err.message.includes(wrong));
    assert.deepEqual(readdirSync(targetRoot), []);
    // No key at all for an env-key envelope: it says which key it needs.
    const noKey = await rejectsWithCode(
      importUnobinStack(source(), target(noopEncrypter(), targetRoot)),
      "E_DECRYPT",
    );
    assert.match(
      noKey.message,
      /sealed with env-key env-var UNOBIN_KEY, but the unobin encrypter given is noop/,
    );
  });

  it("a raw env-key file read without a key, and a plain file read with one, say what they are", async () => {
    const key = newUnobinKey();
    const raw = setUp(sealAll(history(), { kind: "raw-env-key", key }), REV1);
    const err = await rejectsWithCode(importUnobinStack(raw.source(), target()), "E_CORRUPT");
    assert.match(
      err.message,
      /unobin revision .*if unobin sealed it with its env-key encrypter, give that key/,
    );
    const plain = setUp(sealAll(history(), { kind: "raw-noop" }), REV1);
    const withKey = unobinEnvKeyEncrypter({ envVar: "K", env: { K: key } });
    const err2 = await rejectsWithCode(importUnobinStack(plain.source(withKey), target()), "E_DECRYPT");
    assert.match(err2.message, /plain JSON \(unobin's noop encrypter wrote it\): read it without a key/);
  });

  it("a flipped byte, a truncated file, and a snapshot in an unknown shape are refused naming the revision; nothing is written", async () => {
    const key = newUnobinKey();
    const cases: Array<{ mutate: (dir: string) => void; code: ErrorCode; message: RegExp }> = [
      {
        mutate: (dir) => {
          const p = join(dir, "snapshots", `${REV3}.json.enc`);
          const b = readFileSync(p);
          b[b.length - 5] = (b[b.length - 5] ?? 0) ^ 0x01;
          writeFileSync(p, b);
        },
        code: "E_DECRYPT",
        message: new RegExp(`revision ${REV3.replace(/\./g, "\\.")}: it does not authenticate`),
      },
      {
        mutate: (dir) => writeFileSync(join(dir, "snapshots", `${REV2}.json.enc`), randomBytes(20)),
        code: "E_DECRYPT",
        message: /does not authenticate/,
      },
    ];
    for (const c of cases) {
      const { root, source } = setUp(sealAll(history(), { kind: "raw-env-key", key }), REV1);
      c.mutate(join(root, FACTORY, STACK));
      const targetRoot = tempDir("unobin-target");
      const err = await rejectsWithCode(
        importUnobinStack(
          source(unobinEnvKeyEncrypter({ envVar: "K", env: { K: key } })),
          target(noopEncrypter(), targetRoot),
        ),
        c.code,
      );
      assert.match(err.message, c.message);
      assert.deepEqual(readdirSync(targetRoot), []);
    }
    const odd = new TextEncoder().encode(
      JSON.stringify({ "format-version": 1, deployment: "prod", state: {} }),
    );
    const { source } = setUp([{ rev: REV1, sealed: odd }], REV1);
    const err = await rejectsWithCode(importUnobinStack(source(), target()), "E_CORRUPT");
    assert.match(
      err.message,
      /unobin revision .*shape this build does not know \(format-version: a number, deployment: a string, state: an object\)/,
    );
  });

  it("refuses the unobin folder itself as the target, with or without current, and leaves it as it was", async () => {
    for (const current of [REV2, undefined]) {
      const { root, source } = setUp(sealAll(history(), { kind: "raw-noop" }), current);
      const before = fingerprint(root);
      const err = await rejectsWithCode(
        importUnobinStack(source(), target(noopEncrypter(), root)),
        "E_INVALID_ARGUMENT",
      );
      assert.match(
        err.message,
        /holds revision files .*not statekeeper's; is the target store unobin's own folder/,
      );
      assert.deepEqual(fingerprint(root), before);
    }
  });

  it("refuses current naming a missing revision, an empty stack, and a target with other history", async () => {
    const missing = setUp(sealAll(history().slice(0, 1), { kind: "raw-noop" }), REV4);
    const err = await rejectsWithCode(importUnobinStack(missing.source(), target()), "E_CORRUPT");
    assert.match(err.message, /current for webshop\/prod names revision .*which has no snapshot/);
    const dotted = setUp(
      [...sealAll(history(), { kind: "raw-noop" }), { rev: ".hidden", sealed: new Uint8Array(1) }],
      REV1,
    );
    const name = await rejectsWithCode(importUnobinStack(dotted.source(), target()), "E_INVALID_NAME");
    assert.match(
      name.message,
      /unobin's snapshot "\.hidden\.json\.enc" cannot keep its name as a statekeeper revision/,
    );
    const empty = setUp([], undefined);
    await rejectsWithCode(importUnobinStack(empty.source(), target()), "E_NOT_FOUND");
    const full = setUp(sealAll(history(), { kind: "raw-noop" }), REV1);
    const other = target();
    await other.commit(newSnapshot({ name: FACTORY, version: "1", contentRevision: "x" }, STACK));
    const conflict = await rejectsWithCode(importUnobinStack(full.source(), other), "E_CONFLICT");
    assert.match(conflict.message, /already has 1 revision\(s\) unobin's stack lacks/);
  });
});
