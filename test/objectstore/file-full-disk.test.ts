// The file store on a really full filesystem: a small tmpfs, filled to the last byte, mounted in
// a private mount namespace (unshare) so that nothing shows on the host's mount table and the
// mount disappears with the child. Releasing a lock and deleting must still work; a write must
// fail with an error that names the cause and must leave nothing behind.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";

const repoRoot = new URL("../..", import.meta.url).pathname;
const fixture = join(repoRoot, "test", "fixtures", "objectstore", "full-disk.ts");
const mountPoint = mkdtempSync(join(tmpdir(), "statekeeper-full-disk-"));
after(() => rmSync(mountPoint, { recursive: true, force: true }));

const SETUP_FAILED = 97;
// Mounts the tmpfs in the new namespace, then runs the fixture there; exit 97 means "could not mount".
const script = `mount -t tmpfs -o size=2m,mode=0700 statekeeper-full-disk "$1" || exit ${SETUP_FAILED}; exec "$2" --import tsx "$3" "$1"`;

interface Outcome {
  ok: boolean;
  code?: string;
  message?: string;
}
interface Report {
  filled: number;
  unlock: Outcome & { value?: boolean };
  lockObjectAfterUnlock: boolean;
  conditionalDelete: Outcome;
  plainDelete: Outcome;
  put: Outcome;
  keptBody: string;
  create: Outcome;
  newExists: boolean;
  keys: string[];
  temps: string[];
  bookkeeping: string[];
}

/**
 * Runs the fixture on a full 2 MiB tmpfs. As root, `unshare --mount` suffices; otherwise a user
 * namespace maps us to root in it. If no way to mount works, this FAILS with what each attempt
 * said; so does a fixture that ran and crashed.
 */
function runOnFullDisk(): Report {
  const namespaces =
    process.getuid?.() === 0
      ? [["--mount"], ["--user", "--map-root-user", "--mount"]]
      : [["--user", "--map-root-user", "--mount"]];
  const attempts: string[] = [];
  for (const flags of namespaces) {
    const child = spawnSync(
      "unshare",
      [
        ...flags,
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        script,
        "sh",
        mountPoint,
        process.execPath,
        fixture,
      ],
      { cwd: repoRoot, encoding: "utf8", timeout: 120_000 },
    );
    const line = child.stdout?.split("\n").find((l) => l.startsWith("{"));
    if (line !== undefined) return JSON.parse(line) as Report;
    const mounted =
      child.error === undefined && child.status !== SETUP_FAILED && !/^unshare:/m.test(child.stderr);
    if (mounted) assert.fail(`the full-disk fixture failed (exit ${child.status}): ${child.stderr}`);
    attempts.push(
      `unshare ${flags.join(" ")}: ${child.error?.message ?? `exit ${child.status}${child.status === SETUP_FAILED ? " (mount failed)" : ""}`}: ${child.stderr?.trim()}`,
    );
  }
  assert.fail(
    `could not run the full-disk scenario in a private mount namespace with a tmpfs; this test needs ` +
      `'unshare --mount' as root, or unprivileged user namespaces, and 'mount -t tmpfs'. Attempts:\n${attempts.join("\n")}`,
  );
}

describe("file store on a full filesystem", () => {
  test("unlock and deletes succeed without new space; a put fails naming ENOSPC; nothing half-written, no temp left", () => {
    const r = runOnFullDisk();
    assert.ok(r.filled > 0, "the filler took the remaining space");

    assert.deepEqual(r.unlock, { ok: true, value: true }, "unlock released the lock");
    assert.equal(r.lockObjectAfterUnlock, false, "the lock object is gone");
    assert.equal(r.conditionalDelete.ok, true, JSON.stringify(r.conditionalDelete));
    assert.equal(r.plainDelete.ok, true, JSON.stringify(r.plainDelete));

    for (const [what, o] of [
      ["put", r.put],
      ["create-only put", r.create],
    ] as const) {
      assert.equal(o.ok, false, `${what} on a full disk cannot succeed`);
      assert.equal(o.code, "E_UNAVAILABLE", `${what}: ${JSON.stringify(o)}`);
      assert.match(o.message ?? "", /no space left on device/, what);
    }
    assert.equal(r.keptBody, "old body", "the failed put left the old object whole");
    assert.equal(r.newExists, false, "the failed create left no object");
    // `f/s/current` holds the fence the lock raised before the disk was filled.
    assert.deepEqual(r.keys, ["f/s/current", "k/kept"], "only the fence and the untouched object are listed");
    assert.deepEqual(r.temps, [], "no temp file left in the temp folder");
    assert.deepEqual(r.bookkeeping, [], "no mutex or temp left beside the objects");
  });
});
