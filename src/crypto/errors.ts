import { StateKeeperError, truncateForMessage } from "../errors.js";
import type { EnvelopeHeader } from "./envelope.js";

/** The largest `location` accepted by `seal`/`open`; locations are store keys, far shorter. */
export const MAX_LOCATION_LENGTH = 4096;

export function corrupt(reason: string): StateKeeperError {
  return new StateKeeperError("E_CORRUPT", `sealed file is corrupt: ${reason}`);
}

export function invalidConfig(option: string, reason: string): StateKeeperError {
  return new StateKeeperError("E_INVALID_CONFIG", `invalid encrypter option ${option}: ${reason}`, {
    details: { option },
  });
}

/** "key:ab12… (env STATEKEEPER_KEY)": the non-secret name of the key that sealed a file. */
export function describeSealingKey(header: Pick<EnvelopeHeader, "keyId" | "hint">): string {
  const id = truncateForMessage(header.keyId);
  return header.hint === undefined ? id : `${id} (${truncateForMessage(header.hint)})`;
}

function sealingDetails(header: EnvelopeHeader): Record<string, unknown> {
  return {
    sealedWith: header.keyId,
    ...(header.hint === undefined ? {} : { hint: header.hint }),
    ...(header.kmsKeyId === undefined ? {} : { kmsKeyId: header.kmsKeyId }),
  };
}

/** The file was sealed with a key this encrypter does not hold. */
export function wrongKey(header: EnvelopeHeader, heldKeyIds: readonly string[]): StateKeeperError {
  const held = heldKeyIds.map((id) => truncateForMessage(id)).join(", ");
  return new StateKeeperError(
    "E_DECRYPT",
    `cannot open sealed file: it was sealed with ${describeSealingKey(header)}, ` +
      `but the configured keys are: ${held === "" ? "(none)" : held}`,
    { details: { ...sealingDetails(header), heldKeyIds: [...heldKeyIds] } },
  );
}

/**
 * The key id matched but the data did not authenticate. The cause is deliberately not kept:
 * it would add nothing, and callers' logs should not grow crypto library internals.
 */
export function authenticationFailed(header: EnvelopeHeader, why?: string): StateKeeperError {
  return new StateKeeperError(
    "E_DECRYPT",
    `cannot open the file sealed with ${describeSealingKey(header)}: ` +
      (why ?? "authentication failed (the file was modified, truncated, or sealed for another location)"),
    { details: sealingDetails(header) },
  );
}

export function checkPlaintext(plaintext: unknown): asserts plaintext is Uint8Array {
  if (!(plaintext instanceof Uint8Array)) {
    throw new StateKeeperError("E_INVALID_ARGUMENT", "seal: plaintext must be a Uint8Array");
  }
}

export function checkSealed(sealed: unknown): asserts sealed is Uint8Array {
  if (!(sealed instanceof Uint8Array)) {
    throw new StateKeeperError("E_INVALID_ARGUMENT", "open: sealed file must be a Uint8Array");
  }
}

export function checkLocation(location: unknown): asserts location is string {
  if (typeof location !== "string" || location.length > MAX_LOCATION_LENGTH) {
    throw new StateKeeperError(
      "E_INVALID_ARGUMENT",
      `location must be a string of at most ${MAX_LOCATION_LENGTH} characters`,
    );
  }
}
