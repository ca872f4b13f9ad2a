import assert from "node:assert/strict";
import { type ErrorCode, isStateKeeperError, type StateKeeperError } from "../errors.js";

/** Awaits `p` and asserts it rejects with a StateKeeperError of `code`; returns that error. */
export async function rejectsWithCode(p: Promise<unknown>, code: ErrorCode): Promise<StateKeeperError> {
  try {
    await p;
  } catch (e) {
    assert.ok(isStateKeeperError(e), `expected a StateKeeperError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, `expected ${code}, got ${e.code}: ${e.message}`);
    return e;
  }
  assert.fail(`expected ${code}, but the call succeeded`);
}
