import assert from "node:assert/strict";
import { type ErrorCode, isStateKeeperError } from "../../src/errors.js";
import type { Entry, Snapshot } from "../../src/snapshot/index.js";

export const FACTORY = { name: "webshop", version: "1.4.0", contentRevision: "sha256:0f3a" };

export function snapshotWith(entries: Entry[], extra: Partial<Snapshot> = {}): Snapshot {
  return {
    formatVersion: 1,
    factory: { ...FACTORY },
    stack: "prod",
    generatedAt: "2026-05-12T15:30:00.123456789Z",
    entries,
    ...extra,
  };
}

/** Asserts `fn` throws a StateKeeperError with `code` whose message contains every fragment. */
export function assertThrowsCode(fn: () => unknown, code: ErrorCode, ...fragments: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isStateKeeperError(e), `expected a StateKeeperError, got ${String(e)}`);
    assert.equal(e.code, code, `code of: ${e.message}`);
    for (const f of fragments) assert.ok(e.message.includes(f), `${JSON.stringify(e.message)} lacks ${f}`);
    return true;
  });
}

export const text = (b: Uint8Array): string => new TextDecoder().decode(b);
