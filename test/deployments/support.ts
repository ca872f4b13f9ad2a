import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import {
  type DeploymentStore,
  type DeploymentStoreOptions,
  type InstanceInput,
  InstanceStatus,
  openDeploymentStore,
} from "../../src/deployments/index.js";
import { type ErrorCode, hasErrorCode } from "../../src/errors.js";
import type { ObjectStore, PutOptions } from "../../src/objectstore/types.js";

export type MakeStore = () => ObjectStore | Promise<ObjectStore>;

export interface Combo {
  mode: "lazy" | "eager";
  layout: "per-entity" | "chunked";
}

export const ALL_COMBOS: readonly Combo[] = [
  { mode: "lazy", layout: "per-entity" },
  { mode: "lazy", layout: "chunked" },
  { mode: "eager", layout: "per-entity" },
  { mode: "eager", layout: "chunked" },
];

/** A fresh random prefix per test, so tests never need to wipe the store. */
export function freshPrefix(): string {
  return `dt-${randomBytes(6).toString("hex")}`;
}

export interface Opened {
  raw: ObjectStore;
  prefix: string;
  ds: DeploymentStore;
  /** Another process's view: a second deployment store over the same objects. */
  reopen(extra?: DeploymentStoreOptions): Promise<DeploymentStore>;
}

export async function openFresh(
  makeStore: MakeStore,
  combo: Combo,
  extra: DeploymentStoreOptions = {},
): Promise<Opened> {
  const raw = await makeStore();
  const prefix = freshPrefix();
  const options = { ...combo, prefix, ...extra };
  const reopen = (more: DeploymentStoreOptions = {}) => openDeploymentStore(raw, { ...options, ...more });
  return { raw, prefix, ds: await reopen(), reopen };
}

export function sampleInstance(
  id: string,
  name: string,
  overrides: Partial<InstanceInput> = {},
): InstanceInput {
  return {
    instanceId: id,
    instanceName: name,
    status: InstanceStatus.Deployed,
    lastDeployedTimestamp: 1_700_000_000,
    resourceIds: { orders: `${id}-res-orders` },
    resources: {
      [`${id}-res-orders`]: {
        resourceId: `${id}-res-orders`,
        name: "orders",
        type: "aws/dynamodb/table",
        instanceId: id,
        status: 2,
        specData: { tableName: `${name}-orders` },
      },
    },
    links: {
      [`${id}-link-1`]: {
        linkId: `${id}-link-1`,
        name: "fn::orders",
        instanceId: id,
        status: 2,
        resourceDataMappings: { "orders::spec.streamArn": "fn.env.STREAM" },
      },
    },
    metadata: { owner: "team-a" },
    exports: { tableArn: { value: "arn:table", type: "string", field: "resources.orders.spec.arn" } },
    ...overrides,
  };
}

export interface StoreCounts {
  get: number;
  head: number;
  put: number;
  delete: number;
  list: number;
  probe: number;
  /** Keys read with `get`, in order. */
  gotKeys: string[];
}

/** Wraps a store and counts every request made through it. */
export function countingStore(inner: ObjectStore): {
  store: ObjectStore;
  counts: StoreCounts;
  reset(): void;
} {
  const counts: StoreCounts = { get: 0, head: 0, put: 0, delete: 0, list: 0, probe: 0, gotKeys: [] };
  const store: ObjectStore = {
    name: inner.name,
    get(key) {
      counts.get++;
      counts.gotKeys.push(key);
      return inner.get(key);
    },
    head(key) {
      counts.head++;
      return inner.head(key);
    },
    put(key, body, opts?: PutOptions) {
      counts.put++;
      return inner.put(key, body, opts);
    },
    delete(key, opts) {
      counts.delete++;
      return inner.delete(key, opts);
    },
    list(prefix) {
      counts.list++;
      return inner.list(prefix);
    },
    probe() {
      counts.probe++;
      return inner.probe();
    },
  };
  const reset = () => {
    for (const k of ["get", "head", "put", "delete", "list", "probe"] as const) counts[k] = 0;
    counts.gotKeys.length = 0;
  };
  return { store, counts, reset };
}

/** Runs `before` once, just before the first conditional (`ifMatch`) put made through the store. */
export function interceptFirstCas(inner: ObjectStore, before: () => Promise<void>): ObjectStore {
  let armed = true;
  return {
    ...inner,
    name: inner.name,
    get: (key) => inner.get(key),
    head: (key) => inner.head(key),
    delete: (key, opts) => inner.delete(key, opts),
    list: (prefix) => inner.list(prefix),
    probe: () => inner.probe(),
    async put(key, body, opts) {
      if (armed && opts?.ifMatch !== undefined) {
        armed = false;
        await before();
      }
      return inner.put(key, body, opts);
    },
  };
}

export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

export async function readJson(store: ObjectStore, key: string): Promise<unknown> {
  const got = await store.get(key);
  return got === undefined ? undefined : JSON.parse(new TextDecoder().decode(got.body));
}

/** An `assert.rejects` matcher: the error has `expected` as its code, and passes `check`. */
export const code =
  (expected: ErrorCode, check: (e: { details: Readonly<Record<string, unknown>> }) => void = () => {}) =>
  (e: unknown) => {
    assert.ok(hasErrorCode(e, expected), `expected ${expected}, got ${String(e)}`);
    check(e);
    return true;
  };
