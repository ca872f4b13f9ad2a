// Deployment stores for the deployments conformance suite and the deployments tests: a sample
// instance, a store under a fresh prefix, and the matchers the suite asserts with.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import {
  type DeploymentStore,
  type DeploymentStoreOptions,
  type InstanceInput,
  InstanceStatus,
  openDeploymentStore,
} from "../deployments/index.js";
import { type ErrorCode, hasErrorCode } from "../errors.js";
import type { ObjectStore } from "../objectstore/types.js";
import type { MakeStore } from "./conformance-api.js";
import { interceptStore } from "./store-decorators.js";

/** One mode × layout combination the suite runs on. */
export type Combo = Required<Pick<DeploymentStoreOptions, "mode" | "layout">>;

export const ALL_COMBOS: readonly Combo[] = [
  { mode: "lazy", layout: "per-entity" },
  { mode: "lazy", layout: "chunked" },
  { mode: "eager", layout: "per-entity" },
  { mode: "eager", layout: "chunked" },
];

/** Bluelink's own key names and JSON (`layout: "bluelink"`), in both modes. */
export const BLUELINK_COMBOS: readonly Combo[] = [
  { mode: "lazy", layout: "bluelink" },
  { mode: "eager", layout: "bluelink" },
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

/** Runs `before` once, just before the first conditional (`ifMatch`) put made through the store. */
export function interceptFirstCas(inner: ObjectStore, before: () => Promise<void>): ObjectStore {
  let armed = true;
  return interceptStore(inner, async (call) => {
    if (armed && call.op === "put" && call.opts?.ifMatch !== undefined) {
      armed = false;
      await before();
    }
    return undefined;
  });
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
