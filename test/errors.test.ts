// The one error table: every code has one kind, the CLI's exit codes follow the kinds, and errors
// are recognised by brand and shape (also from another copy of the package).
import assert from "node:assert/strict";
import { test } from "node:test";
import { EXIT, exitCodeFor } from "../src/cli/exit-codes.js";
import {
  ERROR_CODES,
  type ErrorCode,
  errorKind,
  FencedError,
  hasErrorCode,
  InvalidNameError,
  isStateKeeperError,
  kindOf,
  LockedError,
  StateKeeperError,
} from "../src/errors.js";
import { memoryStore } from "../src/objectstore/memory.js";
import { isStoreError, StoreError } from "../src/objectstore/types.js";

const KINDS = ["invalid", "not-found", "locked", "conflict", "integrity", "unavailable", "auth", "internal"];

test("every code belongs to exactly one known kind and says what it means", () => {
  for (const [code, entry] of Object.entries(ERROR_CODES)) {
    assert.match(code, /^E_[A-Z_]+$/);
    assert.ok(KINDS.includes(entry.kind), `${code}: kind ${entry.kind}`);
    assert.ok(entry.meaning.length > 10, `${code} has a meaning`);
    assert.equal(kindOf(code), entry.kind);
  }
  assert.equal(kindOf("E_FROM_A_NEWER_VERSION"), "internal");
  assert.equal(errorKind(new Error("plain")), "internal");
});

test("exit codes derive from kinds: one mistake, one exit code", () => {
  const expected: Record<string, number> = {
    invalid: EXIT.usage,
    "not-found": EXIT.error,
    locked: EXIT.locked,
    conflict: EXIT.conflict,
    integrity: EXIT.integrity,
    unavailable: EXIT.error,
    auth: EXIT.error,
    internal: EXIT.error,
  };
  for (const [code, entry] of Object.entries(ERROR_CODES))
    assert.equal(exitCodeFor(new StateKeeperError(code as ErrorCode, "x")), expected[entry.kind], code);
  // The inconsistencies of the old tables: each is now the exit code of its kind.
  assert.equal(exitCodeFor(new StateKeeperError("E_UNSUPPORTED_STORE", "x")), EXIT.usage);
  assert.equal(exitCodeFor(new StateKeeperError("E_TOO_LARGE", "x")), EXIT.usage);
  assert.equal(exitCodeFor(new StateKeeperError("E_CONTENDED", "x")), EXIT.conflict);
  assert.equal(exitCodeFor(new Error("a bug")), EXIT.error);
});

test("a wrong put option is the same error on a store as on records: E_INVALID_ARGUMENT, exit 2", async () => {
  const e = await memoryStore()
    .put("k", new Uint8Array(1), { ifMatch: "" })
    .then(
      () => undefined,
      (err: unknown) => err,
    );
  assert.ok(isStoreError(e, "INVALID_ARGUMENT"), String(e));
  assert.equal(exitCodeFor(e), EXIT.usage);
});

test("a bad key is a StoreError (INVALID_KEY, E_INVALID_NAME) that isStoreError recognises", async () => {
  const e = await memoryStore()
    .get("../escape")
    .then(
      () => undefined,
      (err: unknown) => err,
    );
  assert.ok(isStoreError(e, "INVALID_KEY"), String(e));
  assert.ok(hasErrorCode(e, "E_INVALID_NAME"));
});

test("errors are recognised by brand and shape, not by class identity or name", () => {
  // What a StoreError from another copy of the package looks like: another class, the same
  // global brand (Symbol.for) and shape.
  class OtherCopyError extends Error {
    readonly code = "E_CONFLICT";
    readonly reason = "CONFLICT";
  }
  const copy = new OtherCopyError("lost a race");
  Object.defineProperty(copy, Symbol.for("statekeeper.error"), { value: true });
  assert.equal(copy instanceof StateKeeperError, false);
  assert.ok(isStoreError(new StoreError("CONFLICT", "lost a race"), "CONFLICT"));
  assert.ok(isStateKeeperError(copy));
  assert.ok(isStoreError(copy, "CONFLICT"));
  assert.equal(isStoreError(copy, "NOT_FOUND"), false);
  // A StateKeeperError without a store reason is not a StoreError; a look-alike without the brand is nothing.
  assert.equal(isStoreError(new FencedError("fenced")), false);
  assert.equal(isStateKeeperError({ code: "E_CONFLICT", reason: "CONFLICT", message: "fake" }), false);
  assert.ok(new LockedError("stack s", undefined) instanceof StateKeeperError);
  assert.equal(new InvalidNameError("stack", "..", "no").code, "E_INVALID_NAME");
});
