// Records for the records conformance suite and the records tests: a sample record and a record
// store under a fresh prefix.
import { randomBytes } from "node:crypto";
import type { ObjectStore } from "../objectstore/types.js";
import { createRecordStore } from "../records/store.js";
import type { IaCStateInput, RecordStore } from "../records/types.js";
import type { MakeStore } from "./conformance-api.js";

/** A random records prefix per test, so tests share a store without wiping it. */
export function freshPrefix(label = "rec"): string {
  return `${label}-${randomBytes(6).toString("hex")}/`;
}

/** A valid record for `id`, with `extra` on top. */
export function state(id: string, extra: Partial<IaCStateInput> = {}): IaCStateInput {
  return { resource_id: id, resource_type: "droplet", provider: "do", status: "active", ...extra };
}

/** A record store on a store from `makeStore`, under a fresh prefix. */
export async function records(makeStore: MakeStore): Promise<{ store: ObjectStore; rs: RecordStore }> {
  const store = await makeStore();
  return { store, rs: createRecordStore(store, { prefix: freshPrefix() }) };
}
