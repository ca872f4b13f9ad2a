import { hasErrorCode, type StateKeeperError } from "../errors.js";
import { inspectEnvelope } from "./envelope.js";
import { checkLocation, checkSealed, invalidConfig, wrongKey } from "./errors.js";
import { sealingKeyMatches } from "./identity.js";
import type { Encrypter } from "./types.js";

function isEncrypter(e: unknown): e is Encrypter {
  const c = e as Partial<Encrypter> | null;
  return (
    typeof c === "object" &&
    c !== null &&
    typeof c.keyId === "string" &&
    typeof c.seal === "function" &&
    typeof c.open === "function" &&
    Array.isArray(c.readableKeyIds)
  );
}

/**
 * Key rotation: seals with `primary`, opens with whichever configured encrypter holds the key
 * id named in the file's header. The header only selects among the keys given here; a file
 * can never make the keyring use a key it was not configured with.
 */
export function keyring(primary: Encrypter, ...fallbacks: Encrypter[]): Encrypter {
  const members = [primary, ...fallbacks];
  members.forEach((m, i) => {
    if (!isEncrypter(m))
      throw invalidConfig(i === 0 ? "primary" : `fallbacks[${i - 1}]`, "is not an Encrypter");
  });
  const readableKeyIds = [...new Set(members.flatMap((m) => m.readableKeyIds))];
  return {
    keyId: primary.keyId,
    readableKeyIds,
    ...(primary.hint === undefined ? {} : { hint: primary.hint }),
    sealingKeyMatches: (header) => sealingKeyMatches(primary, header),
    seal: (plaintext, location) => primary.seal(plaintext, location),
    async open(sealed, location) {
      checkSealed(sealed);
      checkLocation(location);
      const header = inspectEnvelope(sealed);
      const candidates = members.filter((m) => m.readableKeyIds.includes(header.keyId));
      if (candidates.length === 0) throw wrongKey(header, readableKeyIds);
      // Several members may share a key id (two passphrases): try each; the first decrypt
      // failure is reported, anything else (KMS unreachable) stops at once.
      let firstFailure: StateKeeperError | undefined;
      for (const candidate of candidates) {
        try {
          return await candidate.open(sealed, location);
        } catch (e) {
          if (!hasErrorCode(e, "E_DECRYPT")) throw e;
          firstFailure ??= e;
        }
      }
      throw firstFailure ?? wrongKey(header, readableKeyIds);
    },
  };
}
