// The CLI's pure parts: exit-code mapping, durations, tables, progress bars (TTY only).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EXIT, exitCodeFor } from "../../src/cli/exit-codes.js";
import { formatTable, parseDuration, printable } from "../../src/cli/output.js";
import { progress } from "../../src/cli/progress.js";
import { LockedError, StateKeeperError } from "../../src/errors.js";
import { formatBytes } from "../../src/internal/text.js";
import { StoreError } from "../../src/objectstore/types.js";

describe("cli units", () => {
  it("maps error codes to the documented exit codes", () => {
    const cases: Array<[unknown, number]> = [
      [new StateKeeperError("E_INVALID_NAME", "x"), EXIT.usage],
      [new StateKeeperError("E_INVALID_CONFIG", "x"), EXIT.usage],
      [new LockedError("x", undefined), EXIT.locked],
      [new StateKeeperError("E_FENCED", "x"), EXIT.conflict],
      [new StateKeeperError("E_LOCK_LOST", "x"), EXIT.conflict],
      [new StateKeeperError("E_VERSION_CONFLICT", "x"), EXIT.conflict],
      [new StoreError("CONFLICT", "x"), EXIT.conflict],
      [new StateKeeperError("E_CORRUPT", "x"), EXIT.integrity],
      [new StateKeeperError("E_DECRYPT", "x"), EXIT.integrity],
      [new StateKeeperError("E_FORMAT_VERSION", "x"), EXIT.integrity],
      [new StateKeeperError("E_NOT_FOUND", "x"), EXIT.error],
      [new StoreError("UNAVAILABLE", "x"), EXIT.error],
      [new Error("plain"), EXIT.error],
    ];
    for (const [e, code] of cases) assert.equal(exitCodeFor(e), code, String((e as Error).message));
  });

  it("parses durations and refuses anything else as a usage error", () => {
    assert.equal(parseDuration("--t", "30s"), 30_000);
    assert.equal(parseDuration("--t", "1500ms"), 1500);
    assert.equal(parseDuration("--t", "2m"), 120_000);
    assert.equal(parseDuration("--t", "0"), 0);
    assert.equal(parseDuration("--t", "1.5"), 1500);
    for (const bad of ["", "-1s", "soon", "1d", "1 s s"])
      assert.throws(
        () => parseDuration("--t", bad),
        (e: unknown) => exitCodeFor(e) === EXIT.usage,
      );
  });

  it("aligns table columns and escapes control characters", () => {
    assert.equal(
      formatTable(
        ["A", "BB"],
        [
          ["xxx", "y"],
          ["z", "w"],
        ],
      ),
      "A    BB\nxxx  y\nz    w",
    );
    assert.equal(printable("a\u001b[31mb\n"), "a\\u001b[31mb\\u000a");
    assert.equal(formatBytes(512), "512 B");
    assert.equal(formatBytes(1536), "1.5 KiB");
  });

  it("draws a progress bar only on a terminal", () => {
    const written: string[] = [];
    const fake = (isTTY: boolean) =>
      ({ isTTY, write: (s: string) => written.push(s) }) as unknown as NodeJS.WriteStream;
    const quiet = progress("x", 3, fake(false));
    quiet.tick();
    quiet.done();
    assert.deepEqual(written, []);
    const bar = progress("verifying", 2, fake(true));
    bar.tick();
    bar.tick();
    bar.done();
    assert.match(written.join(""), /verifying \[#{30}\] 2\/2/);
    assert.equal(written.at(-1), "\r\u001b[K");
  });
});
