import { isStateKeeperError, StateKeeperError, truncateForMessage } from "../errors.js";
import { mapBounded } from "../internal/bounded.js";
import { compareKeys } from "../objectstore/kit.js";
import type { ObjectStore } from "../objectstore/types.js";
import type { RecordLayout } from "./keys.js";
import {
  type IaCState,
  RECORD_FILTER_KEYS,
  type RecordFilter,
  type RecordList,
  type RecordWithEtag,
  type UnreadableRecord,
} from "./types.js";
import { statusProblem } from "./validate.js";

/** Records fetched at once while listing: enough to hide S3 latency, few enough to stay polite. */
const LIST_CONCURRENCY = 16;

export interface ListContext {
  store: ObjectStore;
  prefix: string;
  layout: RecordLayout;
  /** Opens a listed record; `id` is `undefined` where the key does not say (the spaces layout). */
  read(body: Uint8Array, key: string, id: string | undefined): Promise<IaCState>;
}

/**
 * Refuses what the original ignored: an unknown key (a typo would have listed everything), a
 * non-string value, a status that no record can have (empty, too long, control characters).
 */
export function validateFilter(filter: unknown): RecordFilter {
  if (filter === undefined || filter === null) return {};
  if (typeof filter !== "object" || Array.isArray(filter))
    throw new StateKeeperError("E_INVALID_ARGUMENT", "list: the filter must be an object");
  const out: RecordFilter = {};
  for (const [name, value] of Object.entries(filter)) {
    if (!(RECORD_FILTER_KEYS as readonly string[]).includes(name))
      throw new StateKeeperError(
        "E_INVALID_ARGUMENT",
        `list: unknown filter key ${JSON.stringify(truncateForMessage(name))} (allowed: ${RECORD_FILTER_KEYS.join(", ")})`,
        { details: { key: truncateForMessage(name) } },
      );
    if (value === undefined) continue;
    if (typeof value !== "string")
      throw new StateKeeperError("E_INVALID_ARGUMENT", `list: filter ${name} must be a string`, {
        details: { key: name },
      });
    const badStatus = name === "status" ? statusProblem(value) : undefined;
    if (badStatus !== undefined)
      throw new StateKeeperError(
        "E_INVALID_ARGUMENT",
        `list: filter status ${JSON.stringify(truncateForMessage(value))} ${badStatus}`,
        { details: { key: name } },
      );
    (out as Record<string, string>)[name] = value;
  }
  return out;
}

export function matchesFilter(state: IaCState, filter: RecordFilter): boolean {
  return RECORD_FILTER_KEYS.every((k) => filter[k] === undefined || state[k] === filter[k]);
}

/**
 * Every record under the prefix (the store's listing follows every page), read with bounded
 * concurrency. Content failures are reported in `unreadable`; a store failure throws, so a
 * partial listing is never returned as complete.
 */
export async function listRecords(ctx: ListContext, rawFilter?: RecordFilter): Promise<RecordList> {
  const filter = validateFilter(rawFilter);
  const unreadable: UnreadableRecord[] = [];
  const pending: { id: string | undefined; key: string }[] = [];
  for await (const info of ctx.store.list(ctx.prefix)) {
    const kind = ctx.layout.classify(ctx.prefix, info.key);
    if (kind.kind === "record") pending.push({ id: kind.id, key: info.key });
    else if (kind.kind === "undecodable")
      unreadable.push({
        id: undefined,
        key: info.key,
        error: new StateKeeperError(
          "E_CORRUPT",
          `object ${JSON.stringify(info.key)} looks like a record but its name is not an escaped resource id`,
          { details: { key: info.key } },
        ),
      });
  }

  const records: RecordWithEtag[] = [];
  await mapBounded(pending, LIST_CONCURRENCY, async (item) => {
    const found = await ctx.store.get(item.key);
    if (found === undefined) return; // deleted since it was listed: gone, not unreadable
    try {
      const state = await ctx.read(found.body, item.key, item.id);
      if (matchesFilter(state, filter)) records.push({ state, etag: found.etag });
    } catch (e) {
      // A transient failure (a KMS outage) says nothing about the record: the listing fails instead.
      if (isStateKeeperError(e) && (e.code === "E_UNAVAILABLE" || e.code === "E_RATE_LIMITED")) throw e;
      const error = isStateKeeperError(e)
        ? e
        : new StateKeeperError("E_CORRUPT", `record ${JSON.stringify(item.id ?? item.key)} is unreadable`, {
            cause: e,
          });
      unreadable.push({ id: item.id, key: item.key, error });
    }
  });

  records.sort((a, b) => compareKeys(a.state.resource_id, b.state.resource_id));
  unreadable.sort((a, b) => compareKeys(a.key, b.key));
  return { records, unreadable };
}
