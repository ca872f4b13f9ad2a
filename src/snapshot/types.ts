/**
 * The in-memory snapshot model (camelCase). The encoded form uses unobin's JSON names
 * (`format-version`, `stack` for the factory info, `deployment-id`, …); see `codec.ts`.
 */

/** The only snapshot format this build reads and writes. */
export const FORMAT_VERSION = 1;

/** Default cap on an encoded snapshot, checked before parsing so a hostile file cannot exhaust memory. */
export const MAX_SNAPSHOT_BYTES = 512 * 1024 * 1024;

/** Any value JSON can carry. Free-form inputs and outputs are maps of these. */
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

/** Identifies the stack definition a snapshot belongs to, and the build it was produced by. */
export interface FactoryInfo {
  name: string;
  version: string;
  /** Content-addressable hash the producing binary was built with. */
  contentRevision: string;
}

/**
 * `leaf`: a primitive resource (needs `kind`). `library-call`: a composite type's call site
 * (needs `library` and `libraryType`). `action`: an action record (needs `kind`).
 */
export type EntryType = "leaf" | "library-call" | "action";

export const ENTRY_TYPES: readonly EntryType[] = ["leaf", "library-call", "action"];

/** One record in a snapshot. Every optional field is omitted from the encoding when empty. */
export interface Entry {
  /** Unique within the snapshot, never empty. */
  address: string;
  type: EntryType;
  kind?: string;
  /** A non-negative integer; 0 is not encoded. */
  schemaVersion?: number;
  /** Top-level input keys whose values came from a sensitive source; renderers mask them. */
  sensitiveInputs?: string[];
  /** Top-level output keys whose values came from a sensitive source; renderers mask them. */
  sensitiveOutputs?: string[];
  library?: string;
  libraryType?: string;
  /** "<alias>.<configuration>", recorded only when it differs from the import's default. */
  configuration?: string;
  triggerHash?: string;
  inputs?: JsonObject;
  outputs?: JsonObject;
  dependsOn?: string[];
}

/**
 * A state document another tool wrote, kept byte for byte: a Terraform or OpenTofu state
 * through `statekeeper serve`. Its entries and outputs are read from the document.
 */
export interface StateDocument {
  /** What the text is: `application/vnd.terraform.state+json` or `application/vnd.unobin.state+json`. */
  mediaType: string;
  /** The document exactly as the tool sent it (UTF-8). */
  text: string;
}

/** One state file. */
export interface Snapshot {
  formatVersion: number;
  factory: FactoryInfo;
  /** The deployment this snapshot describes (`deployment-id` in the encoding). */
  stack: string;
  /** RFC3339 timestamp, kept as text so nanosecond precision survives a round trip. */
  generatedAt: string;
  /** Order is free; addresses are unique. */
  entries: Entry[];
  outputs?: JsonObject;
  /**
   * Present when the snapshot wraps another tool's own state document: then the document is what
   * is stored, and `entries`/`outputs` are the view statekeeper reads from it (for diff, show,
   * history). A commit refuses entries or outputs that differ from that view: change the document.
   */
  document?: StateDocument;
}
