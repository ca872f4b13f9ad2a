// Where the file store puts its temp files, observed by wrapping node:fs and node:fs/promises: every temp
// (object writes, mutex breaking) lives in the root's one temp folder, so a write never reads the
// folder of its key, however many objects that folder holds; a mutex is a symlink made in place.
// And, observed the same way, a listing never reads a folder its caller skips.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs, {
  promises as fsPromises,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, test } from "node:test";
import { hasErrorCode } from "../../src/errors.js";
import { TEMP_DIR_NAME } from "../../src/objectstore/file/temps.js";
import { fileStore } from "../../src/objectstore/file.js";
import { isStoreError } from "../../src/objectstore/types.js";

const base = mkdtempSync(join(tmpdir(), "statekeeper-file-temps-"));
after(() => rmSync(base, { recursive: true, force: true }));
let counter = 0;
const freshRoot = () => join(base, `root-${++counter}`);
const bytes = (s: string) => new TextEncoder().encode(s);

type FsOp = "readdir" | "open" | "link" | "rename" | "symlink" | "stat";
interface FsCall {
  op: FsOp;
  args: unknown[];
}
type Fn = (...args: unknown[]) => unknown;
const asyncFs = fsPromises as unknown as Record<string, Fn>;
const syncFs = fs as unknown as Record<string, Fn>;

/**
 * Runs `body` with the given filesystem calls wrapped, both the node:fs/promises function and its
 * node:fs `…Sync` twin (the store makes the calls that do not wait for the disk synchronously),
 * recording every call; `inject` may fail a call instead of running it. ES module imports of
 * builtins follow the CommonJS objects once `syncBuiltinESMExports` runs. Test files run in their
 * own process, tests in a file one after another, so nothing else sees the wrappers.
 */
async function observeFs(
  ops: readonly FsOp[],
  body: () => Promise<void>,
  inject?: (call: FsCall) => Error | undefined,
): Promise<FsCall[]> {
  const calls: FsCall[] = [];
  const restore: (() => void)[] = [];
  const wrap = (target: Record<string, Fn>, name: string, op: FsOp, fail: (e: Error) => unknown) => {
    const original = target[name] as Fn;
    restore.push(() => {
      target[name] = original;
    });
    target[name] = (...args: unknown[]) => {
      const call = { op, args };
      calls.push(call);
      const failure = inject?.(call);
      return failure === undefined ? original.apply(target, args) : fail(failure);
    };
  };
  for (const op of ops) {
    wrap(asyncFs, op, op, (e) => Promise.reject(e));
    wrap(syncFs, `${op}Sync`, op, (e) => {
      throw e;
    });
  }
  syncBuiltinESMExports();
  try {
    await body();
  } finally {
    for (const undo of restore) undo();
    syncBuiltinESMExports();
  }
  return calls;
}

const pathArg = (call: FsCall, i = 0) => String(call.args[i]);

function deadPid(): number {
  const child = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]);
  return Number(child.stdout.toString());
}

describe("file store: one temp folder per store", () => {
  test("writes into a folder of 5 000 objects never read that folder, only the temp folder", async () => {
    const root = freshRoot();
    const store = fileStore(root);
    const snapshots = join(root, "f", "s", "snapshots");
    mkdirSync(snapshots, { recursive: true });
    for (let i = 0; i < 5_000; i++) writeFileSync(join(snapshots, `rev-${String(i).padStart(5, "0")}`), "x");
    const { etag } = await store.put("f/s/snapshots/rev-04999", bytes("first write"));
    // A dead writer's temp: the sweep must still find and remove it, from the temp folder.
    mkdirSync(join(root, TEMP_DIR_NAME), { recursive: true });
    writeFileSync(join(root, TEMP_DIR_NAME, `.write.${deadPid()}.abcd.tmp`), "leftover");

    const calls = await observeFs(["readdir"], async () => {
      await store.put("f/s/snapshots/rev-05000", bytes("new"), { ifNoneMatch: "*" });
      await store.put("f/s/snapshots/rev-04999", bytes("cas"), { ifMatch: etag });
      await store.put("f/s/snapshots/rev-00000", bytes("plain"));
      await store.delete("f/s/snapshots/rev-00001");
    });
    const folders = calls.map((c) => pathArg(c));
    assert.deepEqual(
      folders.filter((f) => f !== join(root, TEMP_DIR_NAME)),
      [],
      "no folder but the temp folder is read",
    );
    assert.ok(folders.length >= 3, "the spy saw each write's sweep of the temp folder");
    assert.deepEqual(readdirSync(join(root, TEMP_DIR_NAME)), [], "the dead writer's temp is gone");
    assert.equal(new TextDecoder().decode((await store.get("f/s/snapshots/rev-04999"))?.body), "cas");
    assert.equal(await store.get("f/s/snapshots/rev-00001"), undefined);
    assert.equal(readdirSync(snapshots).length, 5_000, "one created, one deleted, no temp left beside");
  });

  test("write temps and a broken mutex's aside file are made in the temp folder; a mutex is a symlink made in place", async () => {
    const root = freshRoot();
    const store = fileStore(root);
    const temps = join(root, TEMP_DIR_NAME);
    const { etag } = await store.put("d/k", bytes("v1"));
    const mutex = join(root, "d", ".k.mutex");
    const calls = await observeFs(["open", "link", "rename", "symlink"], async () => {
      await store.put("d/created", bytes("c"), { ifNoneMatch: "*" });
      symlinkSync(`${deadPid()} - 0-deadtoken`, mutex);
      await store.put("d/k", bytes("v2"), { ifMatch: etag });
      await store.put("d/k", bytes("v3"));
      await store.delete("d/created");
    });
    const inTemps = (path: string) => dirname(path) === temps;
    const created = calls.filter((c) => c.op === "open" && c.args[1] === "wx").map((c) => pathArg(c));
    const links = calls.filter((c) => c.op === "link");
    const renames = calls.filter((c) => c.op === "rename");
    const symlinks = calls.filter((c) => c.op === "symlink");
    assert.equal(created.length, 3, "one temp per object write, none for a mutex");
    assert.deepEqual(
      created.filter((p) => !inTemps(p)),
      [],
      "every temp is created in the temp folder",
    );
    assert.deepEqual(
      links.map((c) => [inTemps(pathArg(c, 0)), pathArg(c, 1)]),
      [[true, join(root, "d", "created")]],
      "the one link is the create-only put, from the temp folder",
    );
    assert.ok(symlinks.length >= 3, "each mutex (CAS, plain put, delete) was a symlink");
    assert.deepEqual(
      symlinks.filter((c) => pathArg(c, 1) !== mutex && pathArg(c, 1) !== join(root, "d", ".created.mutex")),
      [],
      "mutexes are made beside their key",
    );
    // Each rename either places a written temp, or moves a stale mutex aside into the temp folder.
    for (const c of renames)
      assert.ok(
        inTemps(pathArg(c, 0)) ? pathArg(c, 1) === join(root, "d", "k") : pathArg(c, 0) === mutex,
        JSON.stringify(c.args),
      );
    assert.ok(
      renames.some((c) => pathArg(c, 0) === mutex && inTemps(pathArg(c, 1))),
      "the stale mutex was broken",
    );
    assert.deepEqual(readdirSync(temps), []);
    assert.deepEqual(readdirSync(join(root, "d")), ["k"]);
  });

  test("a key folder on another filesystem (EXDEV) fails clearly, not retryably, and leaves no temp", async () => {
    const root = freshRoot();
    const store = fileStore(root);
    await store.put("mnt/k", bytes("v1"));
    const crossDevice = (call: FsCall) =>
      dirname(pathArg(call, 1)) === join(root, "mnt")
        ? Object.assign(new Error("EXDEV: cross-device link not permitted"), { code: "EXDEV" })
        : undefined;
    for (const opts of [{ ifNoneMatch: "*" } as const, {}]) {
      let failure: unknown;
      await observeFs(
        ["link", "rename"],
        async () => {
          failure = await store.put("mnt/other", bytes("v2"), opts).then(
            () => undefined,
            (e: unknown) => e,
          );
        },
        crossDevice,
      );
      assert.ok(hasErrorCode(failure, "E_UNSUPPORTED_STORE"), JSON.stringify(opts));
      assert.ok(isStoreError(failure) && !failure.retryable);
      assert.match((failure as Error).message, /mnt\/other.*EXDEV.*mount points/);
      assert.deepEqual(readdirSync(join(root, TEMP_DIR_NAME)), []);
    }
    assert.equal(await store.get("mnt/other"), undefined);
  });
});

describe("file store: a listing never reads a folder its caller skips", () => {
  test("a stack's chunks/ and snapshots/ are not read when skipped; everything else is listed", async () => {
    const root = freshRoot();
    const store = fileStore(root);
    for (const stack of ["a", "b"]) {
      await store.put(`f/${stack}/current`, bytes("{}"));
      await store.put(`f/${stack}/snapshots/r1.json.enc`, bytes("r1"));
      for (let i = 0; i < 20; i++) await store.put(`f/${stack}/chunks/c${i}`, bytes("c"));
    }
    await store.put("f/b/lock", bytes("{}"));
    const skip = (folder: string) => folder.endsWith("/chunks/") || folder.endsWith("/snapshots/");
    let keys: string[] = [];
    const calls = await observeFs(["readdir"], async () => {
      keys = [];
      for await (const o of store.list("f/", { skip })) keys.push(o.key);
    });
    assert.deepEqual(keys, ["f/a/current", "f/b/current", "f/b/lock"]);
    const read = calls.map((c) => pathArg(c).slice(root.length));
    assert.deepEqual(read.sort(), ["/f", "/f/a", "/f/b"], "only the folders the listing returns from");
  });
});

describe("file store: a listing never reads a folder wholly before its start key", () => {
  test("folders before startAfter are not read, nor stat'ed; the one it falls in is", async () => {
    const root = freshRoot();
    const store = fileStore(root);
    for (const stack of ["a", "b", "c"])
      for (let i = 0; i < 5; i++) await store.put(`f/${stack}/log/${String(i).padStart(4, "0")}`, bytes("e"));
    let keys: string[] = [];
    const calls = await observeFs(["readdir", "stat"], async () => {
      keys = [];
      for await (const o of store.list("f/", { startAfter: "f/b/log/0003" })) keys.push(o.key);
    });
    assert.deepEqual(keys, ["f/b/log/0004", ...[0, 1, 2, 3, 4].map((i) => `f/c/log/000${i}`)]);
    const read = calls.filter((c) => c.op === "readdir").map((c) => pathArg(c).slice(root.length));
    assert.deepEqual(read.sort(), ["/f", "/f/b", "/f/b/log", "/f/c", "/f/c/log"], "never /f/a");
    const statted = calls.filter((c) => c.op === "stat").map((c) => pathArg(c).slice(root.length));
    assert.equal(statted.length, keys.length, statted.join(", "));
    assert.ok(!statted.some((p) => p.startsWith("/f/a/") || p <= "/f/b/log/0003"), statted.join(", "));
  });
});
