import { StateKeeperError, truncateForMessage } from "../errors.js";
import { isPlainObject, own } from "./json.js";
import { type Entry, type FactoryInfo, FORMAT_VERSION, type JsonObject } from "./types.js";

/**
 * Snapshots unobin wrote (cloudboss/unobin), kept byte for byte as a document
 * (`Snapshot.document`) and read as statekeeper entries. unobin's `format-version` stayed 1 while
 * its JSON changed shape three times; each is recognised here, and anything else is refused
 * naming what was seen:
 *
 * - `documented`: `stack` = factory info `{name, version, content-revision}`, `deployment-id`,
 *   entries with `type` leaf | library-call | action, `library`/`library-type`,
 *   `sensitive-inputs`/`sensitive-outputs` (Go `Snapshot` in pkg/sdk/state/snapshot.go from
 *   commit c1450a31 to b3319bb5; the package documentation's shape, and statekeeper's own).
 * - `module-call`: `stack` = `{name, version, commit}` (or `content-revision`), `deployment-id`,
 *   entries with `type` leaf | module-call | action, `module`/`module-type`, `sensitive-fields`
 *   (pkg/state/snapshot.go, commits a3bab252 to ce0e85ce).
 * - `factory-stack`: `factory` = factory info, `stack` = the stack's name, entries with
 *   `entry-kind` (or `type`), `category`, `binding: {alias, library-path, kind}` (or `node-kind`
 *   and `selector: {alias, export}`), and data-source entries (pkg/sdk/state/snapshot.go from
 *   b3319bb5; unobin's own fixture pkg/state/local/testdata/snapshot-v1.json).
 *
 * The view never quotes a value, only names and JSON types: state holds secrets.
 */

/** The media type statekeeper records for a snapshot unobin wrote, kept as it was. */
export const UNOBIN_STATE_MEDIA_TYPE = "application/vnd.unobin.state+json";

export type UnobinShape = "documented" | "module-call" | "factory-stack";

/** What statekeeper reads from a unobin snapshot. */
export interface UnobinSnapshotView {
  shape: UnobinShape;
  factory: FactoryInfo;
  /** The stack (deployment) the snapshot names: `deployment-id`, or `stack` in the factory-stack shape. */
  stack: string;
  generatedAt: string;
  entries: Entry[];
  outputs: JsonObject | undefined;
}

function jsonType(value: unknown): string {
  if (value === undefined) return "missing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "an object";
  return `a ${typeof value}`;
}

/** The top level as seen, for a refusal: every key with its JSON type, never a value. */
function describeTopLevel(doc: Record<string, unknown>): string {
  const keys = Object.keys(doc).slice(0, 12);
  // Keys are not trusted to be printable: anything but a plain name is JSON-quoted.
  return keys
    .map(
      (k) =>
        `${/^[A-Za-z0-9_.-]{1,40}$/.test(k) ? k : JSON.stringify(truncateForMessage(k, 40))}: ${jsonType(doc[k])}`,
    )
    .join(", ");
}

function notUnobin(message: string, details: Record<string, unknown> = {}): never {
  throw new StateKeeperError("E_CORRUPT", `not a snapshot unobin wrote: ${message}`, { details });
}

function parseText(text: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    // The parser's message quotes the input, which may hold secrets: keep it out.
    return notUnobin("not valid JSON", { rule: "json" });
  }
  if (!isPlainObject(doc)) notUnobin(`the document is ${jsonType(doc)}, not a JSON object`, { rule: "json" });
  return doc;
}

function str(o: Record<string, unknown>, key: string, where: string): string {
  const value = own(o, key);
  // Go decodes a missing or null string as "".
  if (value === undefined || value === null) return "";
  if (typeof value !== "string")
    notUnobin(`${where}${key} is ${jsonType(value)}, not a string`, { rule: key });
  return value;
}

function optionalObject(
  o: Record<string, unknown>,
  key: string,
  where: string,
): Record<string, unknown> | undefined {
  const value = own(o, key);
  if (value === undefined || value === null) return undefined;
  if (!isPlainObject(value)) notUnobin(`${where}${key} is ${jsonType(value)}, not an object`, { rule: key });
  return value;
}

function stringList(o: Record<string, unknown>, key: string, where: string): string[] | undefined {
  const value = own(o, key);
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || !value.every((x) => typeof x === "string"))
    notUnobin(`${where}${key} is not a list of strings`, { rule: key });
  return value.length === 0 ? undefined : [...value];
}

function factoryOf(o: Record<string, unknown>, where: string): FactoryInfo {
  const contentRevision = str(o, "content-revision", where);
  return {
    name: str(o, "name", where),
    version: str(o, "version", where),
    // The module-call shape called the build hash `commit`.
    contentRevision: contentRevision !== "" ? contentRevision : str(o, "commit", where),
  };
}

const MODULE_CALL_FIELDS = ["module", "module-type", "sensitive-fields"];

function isModuleCallEntry(raw: unknown): boolean {
  if (!isPlainObject(raw)) return false;
  return own(raw, "type") === "module-call" || MODULE_CALL_FIELDS.some((f) => own(raw, f) !== undefined);
}

/** Which of unobin's shapes `doc` is, with its factory info and stack; refused naming what was seen. */
function detectShape(doc: Record<string, unknown>): {
  shape: UnobinShape;
  factory: FactoryInfo;
  stack: string;
} {
  const rawStack = own(doc, "stack");
  const rawFactory = own(doc, "factory");
  const entries = own(doc, "entries");
  if (isPlainObject(rawStack) && rawFactory === undefined) {
    const moduleCall =
      own(rawStack, "commit") !== undefined || (Array.isArray(entries) && entries.some(isModuleCallEntry));
    return {
      shape: moduleCall ? "module-call" : "documented",
      factory: factoryOf(rawStack, "stack."),
      stack: str(doc, "deployment-id", ""),
    };
  }
  if (isPlainObject(rawFactory) && (typeof rawStack === "string" || rawStack === undefined)) {
    return { shape: "factory-stack", factory: factoryOf(rawFactory, "factory."), stack: rawStack ?? "" };
  }
  return notUnobin(
    `format-version 1 in a shape this build does not know (${describeTopLevel(doc)}); ` +
      "known: stack = factory info with deployment-id (documented, or module-call), or factory = factory info with stack = name",
    { rule: "shape" },
  );
}

interface EntryContext {
  shape: UnobinShape;
  index: number;
  address: string;
}

function entryWhere(c: EntryContext): string {
  return `entry ${c.index} (${JSON.stringify(truncateForMessage(c.address))}): `;
}

function refuseEntry(c: EntryContext, rule: string): never {
  return notUnobin(`${entryWhere(c)}${rule}`, {
    index: c.index,
    address: truncateForMessage(c.address),
    rule,
  });
}

/** `alias.kind` from a binding (`{alias, kind}`) or a selector (`{alias, export}`); "" when neither. */
function boundKind(
  raw: Record<string, unknown>,
  where: string,
): { alias: string; kind: string; library: string } {
  const binding = optionalObject(raw, "binding", where);
  if (binding !== undefined)
    return {
      alias: str(binding, "alias", `${where}binding.`),
      kind: str(binding, "kind", `${where}binding.`),
      library: str(binding, "library-path", `${where}binding.`),
    };
  const selector = optionalObject(raw, "selector", where);
  if (selector !== undefined)
    return {
      alias: str(selector, "alias", `${where}selector.`),
      kind: str(selector, "export", `${where}selector.`),
      library: "",
    };
  return { alias: "", kind: "", library: "" };
}

/** One entry as statekeeper reads it (its view; the document keeps the entry as it was). */
function viewEntry(raw: unknown, index: number, shape: UnobinShape): Entry {
  if (!isPlainObject(raw)) return notUnobin(`entry ${index} is ${jsonType(raw)}, not an object`, { index });
  const address = own(raw, "address");
  if (typeof address !== "string" || address === "")
    return notUnobin(`entry ${index} has no address`, { index, rule: "address" });
  const c: EntryContext = { shape, index, address };
  const where = entryWhere(c);
  const entry: Entry = { address, type: "leaf" };

  let kind = shape === "factory-stack" ? "" : str(raw, "kind", where);
  let library = str(raw, "library", where);
  let libraryType = str(raw, "library-type", where);
  let type = str(
    raw,
    shape === "factory-stack" && own(raw, "entry-kind") !== undefined ? "entry-kind" : "type",
    where,
  );
  if (shape === "module-call") {
    if (type === "module-call") type = "library-call";
    library = library || str(raw, "module", where);
    libraryType = libraryType || str(raw, "module-type", where);
  }
  if (shape === "factory-stack") {
    const bound = boundKind(raw, where);
    const plainKind = str(raw, "node-kind", where) || str(raw, "kind", where);
    kind = bound.alias !== "" && bound.kind !== "" ? `${bound.alias}.${bound.kind}` : plainKind;
    if (type === "library-call") {
      library = library || bound.library || bound.alias;
      libraryType = libraryType || bound.kind;
    }
    // statekeeper has no data-source type: it reads as a leaf whose kind says what it is.
    if (type === "data" || type === "data-source") {
      type = "leaf";
      if (kind === "") refuseEntry(c, "data-source entry without a kind or binding");
      kind = `data-source:${kind}`;
    }
  }
  if (type === "") refuseEntry(c, "missing type");
  if (type !== "leaf" && type !== "library-call" && type !== "action")
    refuseEntry(c, `unknown type ${JSON.stringify(truncateForMessage(type, 40))}`);
  entry.type = type;
  if (type === "library-call") {
    if (library === "" || libraryType === "") refuseEntry(c, "library-call without library and library-type");
    entry.library = library;
    entry.libraryType = libraryType;
  } else if (kind === "") refuseEntry(c, `${type} without a kind`);
  // A factory-stack library call's binding names its library, not a kind.
  if (kind !== "" && !(type === "library-call" && shape === "factory-stack")) entry.kind = kind;

  const schemaVersion = own(raw, "schema-version");
  if (schemaVersion !== undefined && schemaVersion !== null) {
    if (typeof schemaVersion !== "number" || !Number.isSafeInteger(schemaVersion) || schemaVersion < 0)
      refuseEntry(c, "schema-version is not a non-negative integer");
    if (schemaVersion !== 0) entry.schemaVersion = schemaVersion;
  }
  const sensitiveFields = stringList(raw, "sensitive-fields", where);
  // The module-call shape named sensitive fields without saying input or output: both are masked.
  const sensitiveInputs = stringList(raw, "sensitive-inputs", where) ?? sensitiveFields;
  const sensitiveOutputs = stringList(raw, "sensitive-outputs", where) ?? sensitiveFields;
  if (sensitiveInputs !== undefined) entry.sensitiveInputs = sensitiveInputs;
  if (sensitiveOutputs !== undefined) entry.sensitiveOutputs = sensitiveOutputs;
  const configuration = own(raw, "configuration");
  if (typeof configuration === "string" && configuration !== "") entry.configuration = configuration;
  const triggerHash = str(raw, "trigger-hash", where);
  if (triggerHash !== "") entry.triggerHash = triggerHash;
  const inputs = optionalObject(raw, "inputs", where);
  if (inputs !== undefined && Object.keys(inputs).length > 0) entry.inputs = inputs as JsonObject;
  const outputs = optionalObject(raw, "outputs", where);
  if (outputs !== undefined && Object.keys(outputs).length > 0) entry.outputs = outputs as JsonObject;
  const dependsOn = stringList(raw, "depends-on", where);
  if (dependsOn !== undefined) entry.dependsOn = dependsOn;
  return entry;
}

/** The parsed top level of a unobin snapshot, checked for its format version. */
export function parseUnobinDocument(text: string): Record<string, unknown> {
  if (typeof text !== "string") notUnobin("the document text is not a string");
  const doc = parseText(text);
  const version = own(doc, "format-version");
  if (version !== FORMAT_VERSION)
    throw new StateKeeperError(
      "E_FORMAT_VERSION",
      `unsupported unobin format-version ${truncateForMessage(JSON.stringify(version) ?? "(missing)", 40)} (unobin wrote 1)`,
      {
        details: {
          found: typeof version === "number" ? version : jsonType(version),
          expected: FORMAT_VERSION,
        },
      },
    );
  return doc;
}

/**
 * Reads a unobin snapshot: which shape it is, its factory info and stack, and its entries and
 * outputs as statekeeper sees them. Refuses (`E_CORRUPT`, `E_FORMAT_VERSION`) what unobin's own
 * reader would have refused (no address, a duplicate address, an unknown entry type, a leaf
 * without a kind), and a shape it does not know, naming the top-level keys it saw.
 */
export function unobinView(text: string): UnobinSnapshotView {
  const doc = parseUnobinDocument(text);
  const { shape, factory, stack } = detectShape(doc);
  const generatedAt = str(doc, "generated-at", "");
  const rawEntries = own(doc, "entries");
  if (rawEntries !== undefined && rawEntries !== null && !Array.isArray(rawEntries))
    notUnobin(`entries is ${jsonType(rawEntries)}, not a list`, { rule: "entries" });
  const entries = (rawEntries ?? []).map((raw: unknown, i: number) => viewEntry(raw, i, shape));
  const seen = new Map<string, number>();
  for (const [i, e] of entries.entries()) {
    const first = seen.get(e.address);
    if (first !== undefined)
      refuseEntry(
        { shape, index: i, address: e.address },
        `duplicate address (first used by entry ${first})`,
      );
    seen.set(e.address, i);
  }
  const outputs = optionalObject(doc, "outputs", "");
  return {
    shape,
    factory,
    stack,
    generatedAt,
    entries,
    outputs: outputs === undefined || Object.keys(outputs).length === 0 ? undefined : (outputs as JsonObject),
  };
}
