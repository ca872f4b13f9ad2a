import assert from "node:assert/strict";
import { inspect } from "node:util";
import { type ErrorCode, isStateKeeperError, type StateKeeperError } from "../../src/errors.js";

export const LOCATION = "acme/prod/snapshots/2026-01-01T00:00:00.000000001Z";
export const OTHER_STACK = "acme/staging/snapshots/2026-01-01T00:00:00.000000001Z";
export const OTHER_REV = "acme/prod/snapshots/2026-01-01T00:00:00.000000002Z";
export const TEST_COST = 10;

export const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Awaits `promise`, asserts it rejected with a StateKeeperError of one of `codes`, returns it. */
export async function rejection(promise: Promise<unknown>, ...codes: ErrorCode[]): Promise<StateKeeperError> {
  let error: unknown;
  try {
    await promise;
  } catch (e) {
    error = e;
  }
  assert.ok(error !== undefined, "expected a rejection");
  assert.ok(isStateKeeperError(error), `expected a StateKeeperError, got ${inspect(error)}`);
  if (codes.length > 0)
    assert.ok(codes.includes(error.code), `unexpected code ${error.code}: ${error.message}`);
  return error;
}

/** Synchronous twin of `rejection`. */
export function thrown(run: () => unknown, ...codes: ErrorCode[]): StateKeeperError {
  try {
    run();
  } catch (e) {
    assert.ok(isStateKeeperError(e), `expected a StateKeeperError, got ${inspect(e)}`);
    if (codes.length > 0) assert.ok(codes.includes(e.code), `unexpected code ${e.code}: ${e.message}`);
    return e;
  }
  assert.fail("expected a throw");
}

/** Every rendering of the error and its whole cause chain must be free of every secret. */
export function assertNoSecrets(error: unknown, secrets: readonly string[]): void {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current !== undefined && current !== null && !seen.has(current)) {
    seen.add(current);
    const e = current as { message?: unknown; details?: unknown; cause?: unknown };
    const renderings = [
      String(e.message),
      String(current),
      JSON.stringify(e.details ?? null),
      inspect(current, { depth: 6, showHidden: false }),
    ];
    for (const secret of secrets) {
      for (const r of renderings)
        assert.ok(!r.includes(secret), `a secret leaked into an error: ${r.slice(0, 200)}`);
    }
    current = e.cause;
  }
}

export function indexOfBytes(haystack: Uint8Array, needle: Uint8Array): number {
  return Buffer.from(haystack.buffer, haystack.byteOffset, haystack.byteLength).indexOf(Buffer.from(needle));
}

/** Builds an envelope from raw parts, for tests that need files no encrypter would write. */
export function craftEnvelope(
  headerJson: string,
  body: Uint8Array = new Uint8Array(16),
  version = 1,
): Uint8Array {
  const header = text(headerJson);
  const out = new Uint8Array(11 + header.length + body.length);
  out.set(text("SKSEAL"), 0);
  out[6] = version;
  new DataView(out.buffer).setUint32(7, header.length, false);
  out.set(header, 11);
  out.set(body, 11 + header.length);
  return out;
}
