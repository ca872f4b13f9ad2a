import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  existsSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { threadId } from "node:worker_threads";
import { hasErrorCode } from "../../src/errors.js";
import { dirSyncCount, OWN_START_TIME, storeErrorFromFs } from "../../src/objectstore/file/fs-ops.js";
import { withKeyMutex } from "../../src/objectstore/file/mutex.js";
import { TEMP_DIR_NAME } from "../../src/objectstore/file/temps.js";
import { fileStore } from "../../src/objectstore/file.js";
import { isStoreError } from "../../src/objectstore/types.js";

const base = mkdtempSync(join(tmpdir(), "statekeeper-file-"));
after(() => rmSync(base, { recursive: true, force: true }));
let counter = 0;
const freshRoot = () => join(base, `root-${++counter}`);
const bytes = (s: string) => new TextEncoder().encode(s);

async function keys(listing: AsyncIterable<{ key: string }>): Promise<string[]> {
  const out: string[] = [];
  for await (const o of listing) out.push(o.key);
  return out;
}

/** lstat, not exists: a mutex is a symlink pointing at nothing. */
function pathExists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The pid of a process that has exited and been reaped. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]);
  return Number(child.stdout.toString());
}

describe("file store: keys map to paths under the root", () => {
  test("traversal and reserved names are refused before any I/O, and nothing lands outside the root", async () => {
    const root = freshRoot();
    const store = fileStore(root);
    for (const key of [
      "../escape",
      "a/../../escape",
      "/etc/passwd",
      "a/./b",
      "..",
      ".k.1.ab.tmp",
      "a/.k.mutex",
      TEMP_DIR_NAME,
      `${TEMP_DIR_NAME}/x`,
    ])
      await assert.rejects(store.put(key, bytes("x")), (e) => hasErrorCode(e, "E_INVALID_NAME"), key);
    assert.equal(existsSync(root), false, "the root is created only by a valid write");
    assert.deepEqual(
      readdirSync(base).filter((n) => n.includes("escape")),
      [],
    );
  });

  test("key a/b/c is the file <root>/a/b/c; a relative root is resolved once, at construction", async () => {
    const cwd = process.cwd();
    const dir = freshRoot();
    mkdirSync(dir);
    process.chdir(dir);
    const store = fileStore("rel-root");
    process.chdir(cwd);
    await store.put("a/b/c", bytes("hello"));
    assert.equal(statSync(join(dir, "rel-root", "a", "b", "c")).size, 5);
  });

  test("files are created 0600 and folders 0700", async () => {
    const root = freshRoot();
    const store = fileStore(root);
    await store.put("x/y/file", bytes("secret-ish"));
    await store.put("x/y/created", bytes("c"), { ifNoneMatch: "*" });
    assert.equal(statSync(join(root, "x", "y", "file")).mode & 0o777, 0o600);
    assert.equal(statSync(join(root, "x", "y", "created")).mode & 0o777, 0o600);
    assert.equal(statSync(join(root, "x", "y")).mode & 0o777, 0o700);
    assert.equal(statSync(root).mode & 0o777, 0o700);
  });

  test("a folder at a key's path reads as missing; writing over it is a clear E_INVALID_NAME error", async () => {
    const store = fileStore(freshRoot());
    await store.put("dir/child", bytes("c"));
    assert.equal(await store.get("dir"), undefined);
    assert.equal(await store.head("dir"), undefined);
    await assert.rejects(store.put("dir", bytes("x")), (e) => hasErrorCode(e, "E_INVALID_NAME"));
    await assert.rejects(store.put("dir/child/deeper", bytes("x")), (e) => hasErrorCode(e, "E_INVALID_NAME"));
  });
});

describe("file store: bookkeeping files", () => {
  test("temp and mutex files are never listed", async () => {
    const root = freshRoot();
    const store = fileStore(root);
    await store.put("d/k", bytes("v"));
    writeFileSync(join(root, "d", `.k.${process.pid}.abcdef.tmp`), "partial");
    writeFileSync(join(root, "d", ".k.mutex"), `${process.ppid} - token\n`);
    symlinkSync(`${process.ppid} - 0-token`, join(root, "d", ".other.mutex"));
    writeFileSync(join(root, `.top.${process.pid}.0123.tmp`), "partial");
    writeFileSync(join(root, TEMP_DIR_NAME, `.write.${process.pid}.0123.tmp`), "partial");
    mkdirSync(join(root, TEMP_DIR_NAME, "sub"));
    writeFileSync(join(root, TEMP_DIR_NAME, "sub", "looks-like-a-key"), "x");
    assert.deepEqual(await keys(store.list("")), ["d/k"]);
    assert.deepEqual(await keys(store.list("d/")), ["d/k"]);
    assert.deepEqual(await keys(store.list("d/.k")), []);
    assert.deepEqual(await keys(store.list(".statekeeper")), []);
  });

  test("a write anywhere removes dead processes' temps from the temp folder, never those of live ones", async () => {
    const root = freshRoot();
    const store = fileStore(root);
    await store.put("d/k", bytes("v1"));
    const temps = join(root, TEMP_DIR_NAME);
    const dead = [
      `.write.${deadPid()}.aaaa.tmp`,
      `.mutex.${deadPid()}.bbbb.tmp`,
      `.aside.${deadPid()}.cc.tmp`,
    ];
    const live = [`.write.${process.ppid}.dddd.tmp`, `.write.${process.pid}.eeee.tmp`];
    for (const name of [...dead, ...live]) writeFileSync(join(temps, name), "leftover");
    // Temps beside objects (left by older versions of this driver) are no longer the sweep's business.
    const besideObject = `.k.${deadPid()}.ffff.tmp`;
    writeFileSync(join(root, "d", besideObject), "old layout");
    await store.put("elsewhere/other-key", bytes("v2"));
    assert.deepEqual(readdirSync(temps).sort(), [...live].sort(), "dead removed, live kept");
    assert.deepEqual(readdirSync(join(root, "d")).sort(), [besideObject, "k"]);
    assert.deepEqual(await keys(store.list("")), ["d/k", "elsewhere/other-key"]);
  });

  test("a mutex left by a dead process is broken; one held by a live process makes writers wait, then fail", async () => {
    const root = freshRoot();
    const store = fileStore(root, { mutexTimeoutMs: 150 });
    const { etag } = await store.put("d/k", bytes("v1"));
    await store.put("d/keeps-the-folder", bytes("x"));
    const mutex = join(root, "d", ".k.mutex");
    const placeMutex = (target: string) => {
      rmSync(mutex, { force: true });
      symlinkSync(target, mutex);
    };

    placeMutex(`${deadPid()} - 0-deadtoken`);
    const { etag: second } = await store.put("d/k", bytes("v2"), { ifMatch: etag });
    assert.equal(pathExists(mutex), false);
    assert.deepEqual(readdirSync(join(root, TEMP_DIR_NAME)), [], "the broken mutex is not left aside");
    assert.deepEqual(readdirSync(join(root, "d")).sort(), ["k", "keeps-the-folder"]);

    // An older version of this driver made the mutex a regular file: read and broken the same way.
    writeFileSync(mutex, `${deadPid()} - deadtoken\n`);
    const { etag: third } = await store.put("d/k", bytes("v2b"), { ifMatch: second });
    assert.equal(pathExists(mutex), false);

    placeMutex("garbage from a power loss");
    const old = new Date(Date.now() - 60_000);
    lutimesSync(mutex, old, old);
    await store.delete("d/k", { ifMatch: third });
    assert.equal(await store.get("d/k"), undefined);

    // Our own pid with a token this thread does not hold: left by an earlier failure, stale.
    placeMutex(`${process.pid} ${OWN_START_TIME} ${threadId}-notheld`);
    await store.put("d/k", bytes("v3"));

    // A live process, or another worker thread of ours, holds it: writers wait, then fail.
    for (const holder of [
      `${process.ppid} - 0-livetoken`,
      `${process.pid} ${OWN_START_TIME} ${threadId + 1}-other`,
    ]) {
      placeMutex(holder);
      await assert.rejects(store.put("d/k", bytes("v4")), (e) => isStoreError(e, "UNAVAILABLE"), holder);
    }
    assert.equal(new TextDecoder().decode((await store.get("d/k"))?.body), "v3");
    // Create-only needs no mutex: link() alone decides.
    await assert.rejects(store.put("d/k", bytes("v5"), { ifNoneMatch: "*" }), (e) =>
      isStoreError(e, "PRECONDITION_FAILED"),
    );
  });

  test("the mutex is a symlink whose target names the holder, short enough to live in the inode", async () => {
    const root = freshRoot();
    const store = fileStore(root);
    await store.put("d/k", bytes("v1"));
    const mutex = join(root, "d", ".k.mutex");
    let seen: { isSymlink: boolean; target: string } | undefined;
    await withKeyMutex(
      { tempDir: join(root, TEMP_DIR_NAME), dir: join(root, "d"), name: "k" },
      "d/k",
      1000,
      async () => {
        seen = { isSymlink: lstatSync(mutex).isSymbolicLink(), target: readlinkSync(mutex) };
      },
    );
    assert.equal(seen?.isSymlink, true);
    assert.match(
      seen?.target ?? "",
      new RegExp(`^${process.pid} ${OWN_START_TIME} ${threadId}-[0-9a-f]{24}$`),
    );
    // ext4 keeps a symlink target of under 60 bytes in the inode (no data block); it still fits
    // with the longest pid (7 digits) and a start time of 12 digits (clock ticks since boot).
    const holderToken = seen?.target.split(" ")[2] ?? "";
    assert.ok(7 + 1 + 12 + 1 + holderToken.length < 60, holderToken);
    assert.equal(pathExists(mutex), false, "released");
  });

  test("deletes prune empty folders without ever failing a concurrent write into them", async () => {
    const root = freshRoot();
    const store = fileStore(root);
    for (let round = 0; round < 40; round++) {
      await store.put("deep/er/a", bytes("a"));
      await Promise.all([
        store.delete("deep/er/a"),
        store.put("deep/er/b", bytes("b")),
        store.put("deep/er/c", bytes("c"), { ifNoneMatch: "*" }),
      ]);
      assert.deepEqual(await keys(store.list("deep/")), ["deep/er/b", "deep/er/c"]);
      await Promise.all([store.delete("deep/er/b"), store.delete("deep/er/c")]);
    }
    // Only the temp folder remains, empty: writes place their files, never leave them.
    assert.deepEqual(readdirSync(root), [TEMP_DIR_NAME]);
    assert.deepEqual(readdirSync(join(root, TEMP_DIR_NAME)), []);
  });
});

describe("file store: deferred writes", () => {
  test("a deferred put skips its folder fsync; the next plain put into the folder makes both durable", async () => {
    const store = fileStore(freshRoot());
    await store.put("stack/chunks/seed", bytes("0")); // the folder exists: no mkdir below
    const syncs = async (fn: () => Promise<unknown>) => {
      const before = dirSyncCount();
      await fn();
      return dirSyncCount() - before;
    };
    const deferred = { ifNoneMatch: "*", durability: "deferred" } as const;
    assert.equal(await syncs(() => store.put("stack/chunks/a", bytes("a"), deferred)), 0);
    assert.equal(
      await syncs(() => store.put("stack/chunks/b", bytes("b"), { durability: "deferred" })),
      0,
      "a deferred replace too",
    );
    // Visible at once, and create-only as any put.
    assert.deepEqual(await keys(store.list("stack/chunks/")), [
      "stack/chunks/a",
      "stack/chunks/b",
      "stack/chunks/seed",
    ]);
    await assert.rejects(store.put("stack/chunks/a", bytes("x"), deferred), (e) =>
      isStoreError(e, "PRECONDITION_FAILED"),
    );
    assert.equal(await syncs(() => store.put("stack/chunks/list", bytes("l"), { ifNoneMatch: "*" })), 1);
    assert.equal(await syncs(() => store.put("stack/current", bytes("c"))), 1);
    await assert.rejects(
      store.put("k", bytes("x"), { durability: "later" as "deferred" }),
      /durability must be "deferred"/,
    );
  });
});

describe("file store: etags name the version, not the bytes", () => {
  test("list and head stat objects, never read them, and agree with get and put", async () => {
    const root = freshRoot();
    const store = fileStore(root);
    const { etag } = await store.put("d/small", bytes("v1"));
    // A 3 GiB sparse file: reading it whole would fail (Node reads at most 2 GiB at once).
    const huge = 3 * 1024 ** 3;
    mkdirSync(join(root, "d"), { recursive: true });
    writeFileSync(join(root, "d", "huge"), "");
    truncateSync(join(root, "d", "huge"), huge);
    const listed = [];
    for await (const o of store.list("d/")) listed.push(o);
    assert.deepEqual(
      listed.map((o) => [o.key, o.size]),
      [
        ["d/huge", huge],
        ["d/small", 2],
      ],
    );
    const hugeHead = await store.head("d/huge");
    assert.equal(hugeHead?.size, huge);
    assert.equal(hugeHead?.etag, listed[0]?.etag);
    assert.equal((await store.head("d/small"))?.etag, etag);
    assert.equal(listed[1]?.etag, etag);
    assert.equal((await store.get("d/small"))?.etag, etag);
    assert.equal(
      (await fileStore(root).head("d/small"))?.etag,
      etag,
      "another store instance sees the same etag",
    );
    await store.delete("d/huge", { ifMatch: hugeHead?.etag as string });
    assert.equal(await store.head("d/huge"), undefined);
  });

  test("a replacement is stamped later than what it replaces, even when that carries a later mtime", async () => {
    const root = freshRoot();
    const store = fileStore(root);
    await store.put("d/k", bytes("v1"));
    // As if written by a clock an hour ahead: the next version must still be newer.
    const ahead = new Date(Date.now() + 3_600_000);
    utimesSync(join(root, "d", "k"), ahead, ahead);
    const before = statSync(join(root, "d", "k"), { bigint: true });
    const stale = (await store.head("d/k"))?.etag as string;
    const { etag } = await store.put("d/k", bytes("v1"), { ifMatch: stale });
    const after = statSync(join(root, "d", "k"), { bigint: true });
    assert.ok(after.mtimeNs > before.mtimeNs, `${after.mtimeNs} > ${before.mtimeNs}`);
    assert.notEqual(etag, stale, "identical bytes, new version, new etag");
    assert.equal((await store.head("d/k"))?.etag, etag);
    await assert.rejects(store.put("d/k", bytes("v2"), { ifMatch: stale }), (e) =>
      isStoreError(e, "PRECONDITION_FAILED"),
    );
    await assert.rejects(store.delete("d/k", { ifMatch: stale }), (e) =>
      isStoreError(e, "PRECONDITION_FAILED"),
    );
    // The mtime is the store's clock to the millisecond: lastModified stays meaningful.
    const fresh = await store.put("d/new", bytes("x"));
    const info = await store.head("d/new");
    assert.equal(info?.etag, fresh.etag);
    assert.ok(Math.abs((info?.lastModified?.getTime() ?? 0) - Date.now()) < 60_000);
  });
});

describe("file store: errors", () => {
  test("filesystem errors map by errno code, keep the cause and name the key", () => {
    const cases = [
      ["EACCES", "AUTH_FAILED"],
      ["EPERM", "AUTH_FAILED"],
      ["ENOSPC", "UNAVAILABLE"],
      ["EIO", "UNAVAILABLE"],
      ["EMFILE", "UNAVAILABLE"],
      ["ENOTDIR", "INVALID_KEY"],
      ["EXDEV", "UNSUPPORTED"],
    ] as const;
    for (const [code, reason] of cases) {
      const cause = Object.assign(new Error(`${code}: something at /secret/path`), { code });
      const e = storeErrorFromFs(cause, "put", "f/s/current");
      assert.equal(e.reason, reason, code);
      assert.equal(e.cause, cause);
      assert.equal(e.key, "f/s/current");
      assert.match(e.message, /f\/s\/current/);
    }
    assert.equal(
      storeErrorFromFs(Object.assign(new Error("x"), { code: "ENOSPC" }), "put", "k").retryable,
      true,
    );
    const full = storeErrorFromFs(Object.assign(new Error("x"), { code: "ENOSPC" }), "put", "k");
    assert.match(full.message, /ENOSPC \(no space left on device/);
    const crossDevice = storeErrorFromFs(Object.assign(new Error("x"), { code: "EXDEV" }), "put", "k");
    assert.equal(crossDevice.retryable, false);
    assert.match(crossDevice.message, /mount points of other filesystems is not supported/);
  });

  test("an invalid root or option is refused at construction", () => {
    assert.throws(
      () => fileStore(""),
      (e) => hasErrorCode(e, "E_INVALID_CONFIG"),
    );
    assert.throws(
      () => fileStore(freshRoot(), { mutexTimeoutMs: -1 }),
      (e) => hasErrorCode(e, "E_INVALID_CONFIG"),
    );
  });
});
