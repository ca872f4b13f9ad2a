import { StateKeeperError } from "../errors.js";
import { SENSITIVE_MASK } from "./diff.js";
import { isPlainObject, MAX_JSON_DEPTH, own } from "./json.js";
import { compareCodePoints } from "./revision.js";
import type { Entry, JsonObject, JsonValue } from "./types.js";

/**
 * Terraform and OpenTofu state documents (state format version 4, written by Terraform 0.12–1.x
 * and OpenTofu), as the `http` backend sends them. The body itself is stored byte for byte;
 * this module only reads it: `parseTerraformState` checks what the server needs before
 * accepting a body, and `terraformView` presents the document as statekeeper entries so the
 * history tools (diff by address, show, entry counts) work on it.
 *
 * State holds secrets: no message quotes a value from the body, only the JSON type found.
 * The view never throws on a body `parseTerraformState` accepts: a resource or instance it cannot
 * address (not an object, no type or name, an unknown mode, instances not a list, an index key
 * or deposed key of the wrong type) is left out.
 */

/** The media type statekeeper records for a Terraform or OpenTofu state document. */
export const TERRAFORM_STATE_MEDIA_TYPE = "application/vnd.terraform.state+json";

/** What the server checks before accepting a body: lineage and serial, and whether OpenTofu encrypted it client-side. */
export interface TerraformStateHeader {
  /** Identifies one line of states; never empty. */
  lineage: string;
  /** A non-negative safe integer, incremented by the engine on every change. */
  serial: number;
  /** The state format version (4 today), when present as a non-negative integer. */
  version: number | undefined;
  /** `terraform_version`, when present as a string. */
  terraformVersion: string | undefined;
  /** OpenTofu client-side encryption: the body has `encrypted_data` and `encryption_version`. */
  encrypted: boolean;
}

/** The statekeeper view of a state document: one entry per resource instance object, and the outputs. */
export interface TerraformView {
  header: TerraformStateHeader;
  /** Sorted by address (code-point order); addresses are unique. */
  entries: Entry[];
  /** Root module outputs by name; a sensitive output's value reads `SENSITIVE_MASK`. */
  outputs: JsonObject;
}

/**
 * Shown instead of an attribute or output value nested deeper than `MAX_VALUE_DEPTH`. Such a value
 * is legal JSON but a snapshot holding it would not encode: the encoder refuses documents nested
 * deeper than `MAX_JSON_DEPTH`, counted from the document root, a few levels above an entry's outputs.
 */
const TOO_DEEP = "(nested too deeply to show)";
const MAX_VALUE_DEPTH = MAX_JSON_DEPTH - 8;

/** The JSON type of a parsed value, for messages: never the value itself. */
function jsonType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  switch (typeof value) {
    case "string":
      return value === "" ? "an empty string" : "a string";
    case "number":
      return "a number";
    case "boolean":
      return "a boolean";
    case "object":
      return "an object";
    default:
      return typeof value;
  }
}

function refuse(rule: string, message: string): never {
  throw new StateKeeperError("E_INVALID_ARGUMENT", `not a Terraform state: ${message}`, {
    details: { rule },
  });
}

function checkText(text: unknown): asserts text is string {
  if (typeof text !== "string")
    throw new StateKeeperError(
      "E_INVALID_ARGUMENT",
      `a Terraform state must be given as text, found ${jsonType(text)}`,
      { details: { rule: "text" } },
    );
}

/** Parses the body once; refuses anything that is not a JSON object. */
function parseObject(text: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    if (!(e instanceof SyntaxError)) throw e;
    // The parser's message quotes the body, which may hold secrets: keep it out.
    return refuse("json", text.trim() === "" ? "the body is empty" : "the body is not valid JSON");
  }
  if (!isPlainObject(doc)) return refuse("object", `the body is ${jsonType(doc)}, not a JSON object`);
  return doc;
}

function readLineage(doc: Record<string, unknown>): string {
  const lineage = own(doc, "lineage");
  if (lineage === undefined) refuse("lineage", `"lineage" is missing`);
  if (typeof lineage !== "string" || lineage === "")
    refuse("lineage", `"lineage" must be a non-empty string, found ${jsonType(lineage)}`);
  return lineage;
}

function readSerial(doc: Record<string, unknown>): number {
  const serial = own(doc, "serial");
  if (serial === undefined) refuse("serial", `"serial" is missing`);
  const wrong = (found: string): never =>
    refuse("serial", `"serial" must be a non-negative integer, found ${found}`);
  if (typeof serial !== "number") return wrong(jsonType(serial));
  if (serial < 0) return wrong("a negative number");
  // Above this a double cannot hold every integer: serials would compare wrongly.
  if (serial > Number.MAX_SAFE_INTEGER) return wrong(`a number above ${Number.MAX_SAFE_INTEGER}`);
  if (!Number.isInteger(serial)) return wrong("a fractional number");
  // JSON's -0 is 0.
  return serial === 0 ? 0 : serial;
}

function readHeader(doc: Record<string, unknown>): TerraformStateHeader {
  const lineage = readLineage(doc);
  const serial = readSerial(doc);
  const version = own(doc, "version");
  const terraformVersion = own(doc, "terraform_version");
  return {
    lineage,
    serial,
    version:
      typeof version === "number" && Number.isSafeInteger(version) && version >= 0 ? version : undefined,
    terraformVersion: typeof terraformVersion === "string" ? terraformVersion : undefined,
    encrypted: Object.hasOwn(doc, "encrypted_data") && Object.hasOwn(doc, "encryption_version"),
  };
}

/**
 * Parses `text` (the exact body) as a Terraform/OpenTofu state and returns what the server
 * checks. `E_INVALID_ARGUMENT`, with a message naming what was wrong (never a value from the
 * body, only its JSON type), when the body is empty, not JSON, not a JSON object, or its
 * `lineage` is missing or not a non-empty string, or its `serial` is missing or not a
 * non-negative safe integer. An OpenTofu client-encrypted body keeps `serial` and `lineage` in
 * clear text and is accepted (`encrypted: true`). `version` and `terraform_version` of an
 * unexpected type read as undefined: Terraform itself is the judge of those.
 */
export function parseTerraformState(text: string): TerraformStateHeader {
  checkText(text);
  return readHeader(parseObject(text));
}

/**
 * True when `value` holds arrays or objects nested more than `limit` deep (a container counts
 * as one level). Stops at the limit, so it never recurses deeper than that.
 */
function nestedDeeperThan(value: unknown, limit: number): boolean {
  if (typeof value !== "object" || value === null) return false;
  if (limit === 0) return true;
  if (Array.isArray(value)) {
    for (const item of value) if (nestedDeeperThan(item, limit - 1)) return true;
    return false;
  }
  for (const item of Object.values(value)) if (nestedDeeperThan(item, limit - 1)) return true;
  return false;
}

/** `value`, or `TOO_DEEP` when it is nested too deeply for a snapshot to hold. */
function boundedValue(value: JsonValue): JsonValue {
  return nestedDeeperThan(value, MAX_VALUE_DEPTH) ? TOO_DEEP : value;
}

/** `map` itself, or a copy in which values nested too deeply read `TOO_DEEP`. */
function boundedMap(map: Record<string, unknown>): JsonObject {
  const values = map as JsonObject;
  if (!Object.values(values).some((v) => nestedDeeperThan(v, MAX_VALUE_DEPTH))) return values;
  // fromEntries defines properties, so a "__proto__" key stays a key instead of becoming a prototype.
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, boundedValue(v)]));
}

/** What every instance of one resource shares. */
interface ResourceInfo {
  /** `module.net["a"].data.aws_ami.ubuntu`: the address without the instance key. */
  address: string;
  type: string;
  provider: string | undefined;
  instances: unknown[];
}

function isNonEmptyString(value: unknown): value is string {
  return typeof value === "string" && value !== "";
}

/** The resource's shared fields, or undefined when it cannot be addressed. */
function readResource(raw: unknown): ResourceInfo | undefined {
  if (!isPlainObject(raw)) return undefined;
  const module = own(raw, "module");
  const mode = own(raw, "mode");
  const type = own(raw, "type");
  const name = own(raw, "name");
  const provider = own(raw, "provider");
  const instances = own(raw, "instances");
  if (!isNonEmptyString(type) || !isNonEmptyString(name) || !Array.isArray(instances)) return undefined;
  if (mode !== "managed" && mode !== "data") return undefined;
  if (module !== undefined && module !== null && typeof module !== "string") return undefined;
  const modulePrefix = isNonEmptyString(module) ? `${module}.` : "";
  return {
    address: `${modulePrefix}${mode === "data" ? "data." : ""}${type}.${name}`,
    type,
    provider: isNonEmptyString(provider) ? provider : undefined,
    instances,
  };
}

/** `""` without a key, `[0]` for a number, `["a"]` for a string; undefined for a key of another type. */
function indexSuffix(key: unknown): string | undefined {
  if (key === undefined || key === null) return "";
  if (typeof key === "number") return Number.isSafeInteger(key) ? `[${key}]` : undefined;
  if (typeof key === "string") return `[${JSON.stringify(key)}]`;
  return undefined;
}

/** `" (deposed 1a2b3c4d)"` for a deposed object, `""` for the current one; undefined for a key of another type. */
function deposedSuffix(deposed: unknown): string | undefined {
  if (deposed === undefined || deposed === null || deposed === "") return "";
  return typeof deposed === "string" ? ` (deposed ${deposed})` : undefined;
}

/** The attributes object, or `attributes_flat` (older states), or undefined when neither is an object. */
function readAttributes(instance: Record<string, unknown>): Record<string, unknown> | undefined {
  const attributes = own(instance, "attributes");
  if (isPlainObject(attributes)) return attributes;
  const flat = own(instance, "attributes_flat");
  return isPlainObject(flat) ? flat : undefined;
}

/**
 * The top-level attribute names `sensitive_attributes` marks, sorted and unique. Each path is a
 * list of steps; a path whose first step is `{"type": "get_attr", "value": "<name>"}` marks that
 * attribute, an empty path marks the whole object, hence every attribute. Any other shape is
 * ignored.
 */
function sensitiveNames(paths: unknown, attributes: Record<string, unknown> | undefined): string[] {
  if (!Array.isArray(paths)) return [];
  const names = new Set<string>();
  for (const path of paths) {
    if (!Array.isArray(path)) continue;
    if (path.length === 0) {
      for (const name of Object.keys(attributes ?? {})) names.add(name);
      continue;
    }
    const first: unknown = path[0];
    if (!isPlainObject(first) || own(first, "type") !== "get_attr") continue;
    const name = own(first, "value");
    if (typeof name === "string") names.add(name);
  }
  return [...names].sort(compareCodePoints);
}

/** The entry for one instance object, or undefined when it cannot be addressed. */
function instanceEntry(resource: ResourceInfo, raw: unknown): Entry | undefined {
  if (!isPlainObject(raw)) return undefined;
  const index = indexSuffix(own(raw, "index_key"));
  const deposed = deposedSuffix(own(raw, "deposed"));
  if (index === undefined || deposed === undefined) return undefined;
  const entry: Entry = {
    address: `${resource.address}${index}${deposed}`,
    type: "leaf",
    kind: resource.type,
  };
  const schemaVersion = own(raw, "schema_version");
  if (typeof schemaVersion === "number" && Number.isSafeInteger(schemaVersion) && schemaVersion > 0)
    entry.schemaVersion = schemaVersion;
  const attributes = readAttributes(raw);
  const sensitive = sensitiveNames(own(raw, "sensitive_attributes"), attributes);
  if (sensitive.length > 0) entry.sensitiveOutputs = sensitive;
  if (resource.provider !== undefined) entry.inputs = { provider: resource.provider };
  if (attributes !== undefined && Object.keys(attributes).length > 0) entry.outputs = boundedMap(attributes);
  const dependencies = own(raw, "dependencies");
  if (Array.isArray(dependencies)) {
    const dependsOn = dependencies.filter((d): d is string => typeof d === "string");
    if (dependsOn.length > 0) entry.dependsOn = dependsOn;
  }
  return entry;
}

/**
 * Hands out unique addresses: the first claim of an address gets it as it is, later ones get
 * ` (duplicate 2)`, ` (duplicate 3)`, … (skipping any already taken). Constant work per claim
 * apart from such skips, so a document full of duplicates stays linear.
 */
function addressBook(): (address: string) => string {
  const taken = new Set<string>();
  const nextSuffix = new Map<string, number>();
  return (address) => {
    let unique = address;
    if (taken.has(address)) {
      let n = nextSuffix.get(address) ?? 2;
      while (taken.has(`${address} (duplicate ${n})`)) n++;
      unique = `${address} (duplicate ${n})`;
      nextSuffix.set(address, n + 1);
    }
    taken.add(unique);
    return unique;
  };
}

/** One entry per addressable instance object of `resources`, sorted by address. */
function resourceEntries(resources: unknown): Entry[] {
  if (!Array.isArray(resources)) return [];
  const claim = addressBook();
  const entries: Entry[] = [];
  for (const raw of resources) {
    const resource = readResource(raw);
    if (resource === undefined) continue;
    for (const instance of resource.instances) {
      const entry = instanceEntry(resource, instance);
      if (entry === undefined) continue;
      entry.address = claim(entry.address);
      entries.push(entry);
    }
  }
  return entries.sort((a, b) => compareCodePoints(a.address, b.address));
}

/** Root outputs by name: the value, or `SENSITIVE_MASK` for a sensitive one. Outputs without a value are left out. */
function rootOutputs(outputs: unknown): JsonObject {
  if (!isPlainObject(outputs)) return {};
  const out: Array<[string, JsonValue]> = [];
  for (const [name, output] of Object.entries(outputs)) {
    if (!isPlainObject(output) || !Object.hasOwn(output, "value")) continue;
    out.push([
      name,
      own(output, "sensitive") === true ? SENSITIVE_MASK : boundedValue(output.value as JsonValue),
    ]);
  }
  // fromEntries defines properties, so an output named "__proto__" stays an output.
  return Object.fromEntries(out);
}

/**
 * The statekeeper view of a state document (format version 4): one `leaf` entry per resource
 * instance object, addressed as Terraform does (`module.net["a"].aws_subnet.this[0]`,
 * `data.aws_ami.ubuntu`; a deposed object gets ` (deposed <key>)`), with the resource type as
 * `kind`, the provider as `inputs.provider`, the attributes as `outputs` and the top-level
 * attributes `sensitive_attributes` marks as `sensitiveOutputs`; and the root outputs, sensitive
 * ones masked. An OpenTofu client-encrypted state has no entries and no outputs. Refuses exactly
 * what `parseTerraformState` refuses; anything else it cannot address is left out, never fatal.
 * One `JSON.parse` and linear work, plus sorting the entries.
 */
export function terraformView(text: string): TerraformView {
  checkText(text);
  const doc = parseObject(text);
  const header = readHeader(doc);
  if (header.encrypted) return { header, entries: [], outputs: {} };
  return {
    header,
    entries: resourceEntries(own(doc, "resources")),
    outputs: rootOutputs(own(doc, "outputs")),
  };
}
