import { StateKeeperError } from "../errors.js";
import { type ConfigField, openStore, STORE_SCHEMES } from "../objectstore/schemes.js";
import type { ObjectStore } from "../objectstore/types.js";
import { type Backend, type BackendOptions, createBackend } from "./backend.js";

export type { ConfigField } from "../objectstore/schemes.js";

/** What every backend needs besides its type's configuration. */
export type BackendContext = Omit<BackendOptions, "prefix">;

/**
 * A kind of state backend a library ships, as in unobin's `BackendType`: a name, a description,
 * the schema of its configuration, and a factory. The configuration is validated against the
 * schema before `openStore` sees it.
 */
export interface BackendType {
  name: string;
  description: string;
  configuration: Readonly<Record<string, ConfigField>>;
  /** Opens the store the (validated) configuration names. */
  openStore(config: Readonly<Record<string, unknown>>): Promise<ObjectStore>;
}

const types = new Map<string, BackendType>();

/** Registers a backend type; a second type with the same name is refused. */
export function registerBackendType(type: BackendType): void {
  if (typeof type?.name !== "string" || !/^[a-z][a-z0-9-]*$/.test(type.name))
    throw new StateKeeperError("E_INVALID_CONFIG", `backend type name must match [a-z][a-z0-9-]*`);
  if (types.has(type.name))
    throw new StateKeeperError("E_INVALID_CONFIG", `backend type "${type.name}" is already registered`);
  types.set(type.name, type);
}

/** Every registered backend type, sorted by name. */
export function backendTypes(): BackendType[] {
  return [...types.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** Checks a configuration against a type's schema: unknown fields, missing required ones, wrong types. */
export function validateBackendConfig(type: BackendType, config: unknown): Record<string, unknown> {
  if (typeof config !== "object" || config === null || Array.isArray(config))
    throw new StateKeeperError("E_INVALID_CONFIG", `${type.name} backend: configuration must be an object`);
  const problems: string[] = [];
  const given = config as Record<string, unknown>;
  for (const name of Object.keys(given))
    if (!Object.hasOwn(type.configuration, name))
      problems.push(`unknown field "${name}" (known: ${Object.keys(type.configuration).join(", ")})`);
  for (const [name, field] of Object.entries(type.configuration)) {
    const value = given[name];
    if (value === undefined) {
      if (field.required) problems.push(`"${name}" is required (${field.description})`);
    } else if (typeof value !== field.type)
      problems.push(`"${name}" must be a ${field.type}, got ${typeof value}`);
  }
  if (problems.length > 0)
    throw new StateKeeperError("E_INVALID_CONFIG", `${type.name} backend: ${problems.join("; ")}`, {
      details: { type: type.name, problems },
    });
  return given;
}

/** Opens a backend from a registered type's configuration (unobin's `BackendType.New`). */
export async function openBackendFromConfig(
  typeName: string,
  config: unknown,
  context: BackendContext & { prefix?: string },
): Promise<Backend> {
  const type = types.get(typeName);
  if (type === undefined)
    throw new StateKeeperError(
      "E_INVALID_CONFIG",
      `unknown backend type "${typeName}" (registered: ${[...types.keys()].sort().join(", ")})`,
    );
  const store = await type.openStore(validateBackendConfig(type, config));
  return createBackend(store, context);
}

/**
 * Opens the backend a URL names: `file:///abs/path` or `file:./rel`, `memory://name`,
 * `s3://bucket/prefix?region=…&endpoint=…&forcePathStyle=true&kmsKeyId=…`.
 */
export async function openBackend(
  url: string,
  context: BackendContext & { prefix?: string },
): Promise<Backend> {
  return createBackend(await openStore(url), context);
}

// One backend type per driver in the scheme table (local, memory, s3).
for (const driver of STORE_SCHEMES)
  registerBackendType({
    name: driver.typeName,
    description: driver.description,
    configuration: driver.configuration,
    openStore: async (config) => driver.fromConfig(config),
  });
