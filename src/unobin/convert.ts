import { StateKeeperError } from "../errors.js";
import { decodeSnapshot, encodeSnapshot } from "../snapshot/codec.js";
import { documentSnapshot } from "../snapshot/document.js";
import { isPlainObject, own, serializeSorted } from "../snapshot/json.js";
import { parseRfc3339 } from "../snapshot/time.js";
import type { Snapshot } from "../snapshot/types.js";
import { UNOBIN_STATE_MEDIA_TYPE } from "../snapshot/unobin.js";
import type { UnobinRevision } from "./stack.js";

/**
 * How a unobin revision becomes a statekeeper snapshot, losslessly either way:
 *
 * - `native`: a snapshot in the documented shape whose every field statekeeper's model holds
 *   (statekeeper's stored form is that shape): the entries are stored as entries, and an engine
 *   carries on committing from it. Checked, not assumed: the snapshot statekeeper decodes must
 *   encode back to the same JSON value as unobin's text (keys and whitespace aside).
 * - `document`: anything else (the module-call and factory-stack shapes, a documented snapshot
 *   with a field statekeeper has no place for, another factory or stack name inside, a number
 *   JavaScript cannot hold exactly): unobin's text is kept byte for byte as a document
 *   (`application/vnd.unobin.state+json`) and read as entries (`src/snapshot/unobin.ts`).
 */
export type UnobinStoredAs = "native" | "document";

/** Go's zero `time.Time`, what unobin decodes a missing `generated-at` as. */
const GO_ZERO_TIME = "0001-01-01T00:00:00Z";

// Integers past 2^53 or exponents past a double's range would change in a JavaScript number.
const INEXACT_NUMBER = /\d{16,}|[eE][+-]?\d{3,}/;

/**
 * Whether `encoded` (statekeeper's encoding of what it decoded from `text`) holds the same JSON
 * value as unobin's `text`: both written the one canonical way (keys sorted, 2-space indent).
 */
function sameJsonValue(text: string, encoded: Uint8Array): boolean {
  const original: unknown = JSON.parse(text);
  if (!isPlainObject(original)) return false;
  // Go writes no entries as `null`; statekeeper as `[]`: the same snapshot.
  const normalised = { ...original, entries: own(original, "entries") ?? [] };
  const canonical = Buffer.from(`${serializeSorted(normalised)}\n`, "utf8");
  return canonical.equals(encoded);
}

function asNative(
  revision: UnobinRevision,
  factory: string,
  stack: string,
): { snapshot: Snapshot; encoded: Uint8Array } | undefined {
  const { view, text } = revision;
  if (view.shape !== "documented" || view.factory.name !== factory || view.stack !== stack) return undefined;
  if (INEXACT_NUMBER.test(text)) return undefined;
  let snapshot: Snapshot;
  let encoded: Uint8Array;
  try {
    snapshot = decodeSnapshot(text);
    if (snapshot.document !== undefined) return undefined;
    encoded = encodeSnapshot(snapshot);
  } catch {
    return undefined;
  }
  return sameJsonValue(text, encoded) ? { snapshot, encoded } : undefined;
}

/**
 * The statekeeper snapshot of `revision` for the stack `factory/stack`, how it is stored, and its
 * statekeeper encoding (what `importRevision` seals, and what a read-back must give again).
 */
export function statekeeperSnapshotOf(
  revision: UnobinRevision,
  factory: string,
  stack: string,
): { snapshot: Snapshot; storedAs: UnobinStoredAs; encoded: Uint8Array } {
  const native = asNative(revision, factory, stack);
  if (native !== undefined) return { ...native, storedAs: "native" };
  const { view } = revision;
  const generatedAt = view.generatedAt === "" ? GO_ZERO_TIME : view.generatedAt;
  if (parseRfc3339(generatedAt) === undefined)
    throw new StateKeeperError(
      "E_CORRUPT",
      `unobin revision ${revision.rev}: generated-at is not an RFC3339 time, which unobin always wrote`,
      { details: { rev: revision.rev, rule: "generated-at" } },
    );
  // The statekeeper fields name the stack it is imported into; the document keeps unobin's own.
  const snapshot = documentSnapshot(
    { name: factory, version: view.factory.version, contentRevision: view.factory.contentRevision },
    stack,
    { mediaType: UNOBIN_STATE_MEDIA_TYPE, text: revision.text },
    generatedAt,
  );
  return { snapshot, storedAs: "document", encoded: encodeSnapshot(snapshot) };
}
