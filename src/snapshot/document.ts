import { StateKeeperError, truncateForMessage } from "../errors.js";
import { serializeSorted } from "./json.js";
import { newRevision } from "./revision.js";
import { TERRAFORM_STATE_MEDIA_TYPE, terraformView } from "./terraform.js";
import {
  type Entry,
  type FactoryInfo,
  FORMAT_VERSION,
  type JsonObject,
  type Snapshot,
  type StateDocument,
} from "./types.js";
import { UNOBIN_STATE_MEDIA_TYPE, unobinView } from "./unobin.js";

/**
 * Snapshots that wrap another tool's state document (`Snapshot.document`): the document is kept
 * byte for byte, and statekeeper reads entries and outputs from it. Two media types: Terraform
 * and OpenTofu state (`src/snapshot/terraform.ts` owns what it means) and snapshots unobin wrote
 * in a shape other than statekeeper's own (`src/snapshot/unobin.ts`).
 */

/** What statekeeper reads from a document: the entries and outputs its tools show and diff. */
export interface DocumentView {
  entries: Entry[];
  outputs: JsonObject | undefined;
}

function invalidDocument(message: string): never {
  throw new StateKeeperError("E_INVALID_SNAPSHOT", message, { details: { rule: "document" } });
}

/** The entries and outputs of `document`. An unknown media type or a text that is not one is `E_INVALID_SNAPSHOT`. */
export function documentView(document: StateDocument): DocumentView {
  if (typeof document !== "object" || document === null) invalidDocument("document must be an object");
  if (typeof document.text !== "string") invalidDocument("document text must be a string");
  if (document.mediaType === UNOBIN_STATE_MEDIA_TYPE) {
    let unobin: ReturnType<typeof unobinView>;
    try {
      unobin = unobinView(document.text);
    } catch (e) {
      if (e instanceof StateKeeperError) invalidDocument(`document is not a unobin snapshot: ${e.message}`);
      throw e;
    }
    return { entries: unobin.entries, outputs: unobin.outputs };
  }
  if (document.mediaType !== TERRAFORM_STATE_MEDIA_TYPE)
    invalidDocument(
      `unknown document media type ${JSON.stringify(truncateForMessage(String(document.mediaType), 80))} (this build knows ${TERRAFORM_STATE_MEDIA_TYPE} and ${UNOBIN_STATE_MEDIA_TYPE})`,
    );
  let view: ReturnType<typeof terraformView>;
  try {
    view = terraformView(document.text);
  } catch (e) {
    if (e instanceof StateKeeperError) invalidDocument(`document is not a Terraform state: ${e.message}`);
    throw e;
  }
  return {
    entries: view.entries,
    outputs: Object.keys(view.outputs).length === 0 ? undefined : view.outputs,
  };
}

/** A snapshot of `factory`/`stack` that wraps `document`, with its view as entries and outputs. */
export function documentSnapshot(
  factory: FactoryInfo,
  stack: string,
  document: StateDocument,
  generatedAt: string = newRevision(),
): Snapshot {
  const { entries, outputs } = documentView(document);
  return {
    formatVersion: FORMAT_VERSION,
    factory: { name: factory.name, version: factory.version, contentRevision: factory.contentRevision },
    stack,
    generatedAt,
    entries,
    ...(outputs === undefined ? {} : { outputs }),
    document: { mediaType: document.mediaType, text: document.text },
  };
}

/**
 * Refuses a document snapshot whose entries or outputs are not what the document says: they are
 * not stored, so a change to them would be lost silently.
 */
export function assertViewMatches(s: Snapshot): void {
  const { document } = s;
  if (document === undefined) return;
  const view = documentView(document);
  if (
    serializeSorted(s.entries) !== serializeSorted(view.entries) ||
    serializeSorted(s.outputs ?? {}) !== serializeSorted(view.outputs ?? {})
  )
    invalidDocument(
      "the snapshot wraps a state document, and its entries or outputs differ from what the document says: " +
        "they are read from the document and not stored, so change the document instead",
    );
}
