import { EventEmitter } from "node:events";
import { StateKeeperError } from "../errors.js";
import {
  bluelinkEventIndexFormat,
  bluelinkEventIndexKey,
  bluelinkKey,
  bluelinkPartitionFormat,
  type EventIndex,
} from "./bluelink.js";
import { asRecord, checkName, encodeSegment, jsonSize, setOwn } from "./codec.js";
import { type ObjectFormat, readObject, updateObject } from "./compare-and-swap.js";
import { timeOrderedIdGenerator } from "./ids.js";
import type { LayoutContext } from "./layout.js";
import type { Event, NewEvent } from "./types.js";

export interface StreamEventsParams {
  channelType: string;
  channelId: string;
  /** Start at this event (inclusive). Without it: the events of the last `recentEventsSeconds`. */
  startingEventId?: string;
  /** Ends the stream (quietly) when aborted. */
  signal?: AbortSignal;
  /** How often to look for events written by other processes; default 500 ms. */
  pollIntervalMs?: number;
}

export interface EventsContainer {
  /** Appends to the channel's partition (ids are time-ordered); returns the stored event. */
  save(event: NewEvent): Promise<Event>;
  /** The event with this id; searches every partition unless `channel` says where it is. */
  get(id: string, channel?: { channelType: string; channelId: string }): Promise<Event | undefined>;
  /** The channel's events in id order. */
  list(channelType: string, channelId: string): Promise<Event[]>;
  /**
   * Stored events (from `startingEventId`, or the recent ones), then new ones as they are
   * saved by this or another process, in id order; stops after an event with `end: true`.
   */
  stream(params: StreamEventsParams): AsyncGenerator<Event>;
  /** Removes events older than `threshold` from every partition; returns how many. */
  cleanup(threshold: Date): Promise<number>;
}

/** What copying a deployment store needs beyond the public container (src/deployments/copy.ts). */
export interface EventsInternals {
  /** Every channel with a partition, read from the partitions' events (keys may be lossy). */
  channels(): Promise<{ channelType: string; channelId: string }[]>;
  /** Writes a channel's events in one compare-and-swap, ids kept (a stored id is replaced). */
  importEvents(channelType: string, channelId: string, events: readonly Event[]): Promise<void>;
}

export interface EventsOptions {
  maxEventPartitionBytes: number;
  recentEventsSeconds: number;
  clock: () => Date;
}

const partitionFormat: ObjectFormat<Event[]> = {
  decode(parsed, key) {
    const partition = asRecord<{ events?: unknown }>(parsed, key);
    if (!Array.isArray(partition.events))
      throw new StateKeeperError("E_CORRUPT", `event partition ${key} has no events array`, {
        details: { key },
      });
    return partition.events as Event[];
  },
  encode: (events) => ({ events }),
};

/**
 * One partition object per channel, `<prefix>events__<channelType>_<channelId>.json` (both parts
 * encoded, so `_` in a name cannot make two channels share a partition). Every append reads the
 * partition and writes it back with compare-and-swap, retrying on a lost race, so processes
 * appending to one channel never overwrite each other's events.
 *
 * Under Bluelink's naming the parts are written raw and the partition is a bare JSON array
 * (`partitionNameForChannel`, statestore/container_events.go; `SaveEventPartition`,
 * statestore/persister.go), and `event_index.json` maps every event id to its partition and
 * position. Raw names are lossy (`a_b`+`c` and `a`+`b_c` share a partition): an append to a
 * partition holding another channel's events is refused, and reads keep only the channel's own.
 */
export function eventsContainer(
  ctx: LayoutContext,
  options: EventsOptions,
): EventsContainer & EventsInternals {
  const bluelink = ctx.naming === "bluelink";
  const partitionsPrefix = `${ctx.prefix}events__`;
  const format = bluelink ? bluelinkPartitionFormat : partitionFormat;
  const indexKey = bluelinkEventIndexKey(ctx.prefix);
  const partitionKey = (channelType: string, channelId: string) => {
    checkName("channel type", channelType);
    checkName("channel id", channelId);
    return bluelink
      ? bluelinkKey("event channel (type_id)", `${channelType}_${channelId}`, ctx.prefix, "events__")
      : `${partitionsPrefix}${encodeSegment(channelType)}_${encodeSegment(channelId)}.json`;
  };
  const nextId = timeOrderedIdGenerator(() => options.clock().getTime());
  const saved = new EventEmitter().setMaxListeners(0);

  /** Every event stored in the partition object, whatever its channel. */
  const readStored = async (key: string): Promise<Event[]> =>
    (await readObject(ctx, key, format))?.value ?? [];

  /** The channel's events (a Bluelink partition may also hold a colliding channel's). */
  const readPartition = async (key: string, channelType: string, channelId: string): Promise<Event[]> => {
    const events = await readStored(key);
    return bluelink
      ? events.filter((e) => e.channelType === channelType && e.channelId === channelId)
      : events;
  };

  const allPartitionKeys = async (): Promise<string[]> => {
    const keys: string[] = [];
    // Bluelink's raw channel names may contain `/`, nesting the partition in folders.
    for await (const info of ctx.store.list(partitionsPrefix))
      if (info.key.endsWith(".json") && (bluelink || !info.key.includes("/", partitionsPrefix.length)))
        keys.push(info.key);
    return keys;
  };

  /**
   * Rewrites the `event_index.json` entries of one partition from a read of it made after the
   * index read (compare-and-swap), so the last index write reflects the newest partition.
   * Bluelink writes the positions of the events it saved; here every position is kept current.
   */
  const reindex = async (key: string): Promise<void> => {
    if (!bluelink) return;
    const partition = key.slice(ctx.prefix.length, -".json".length);
    await updateObject(ctx, indexKey, bluelinkEventIndexFormat, async (index) => {
      const events = await readStored(key);
      const next: EventIndex = {};
      for (const [id, loc] of Object.entries(index ?? {}))
        if (loc?.partition !== partition) setOwn(next, id, loc);
      events.forEach((event, i) => {
        setOwn(next, event.id, { partition, indexInPartition: i });
      });
      if (index !== undefined && JSON.stringify(next) === JSON.stringify(index)) return { keep: true };
      if (index === undefined && events.length === 0) return { keep: true };
      return { put: next };
    });
  };

  /** Where Bluelink's index says an event is: one partition to read instead of all. */
  const indexedPartition = async (id: string): Promise<string | undefined> => {
    const index = (await readObject(ctx, indexKey, bluelinkEventIndexFormat))?.value;
    const loc = index !== undefined && Object.hasOwn(index, id) ? index[id] : undefined;
    return typeof loc?.partition === "string" ? `${ctx.prefix}${loc.partition}.json` : undefined;
  };

  /**
   * Inserts events into their channel's partition in id order (an event with an id already
   * stored replaces it), with compare-and-swap, then reindexes and wakes streams. Refuses a
   * partition over the size cap and, under Bluelink's naming, one that holds another channel.
   */
  const insertEvents = async (
    key: string,
    channelType: string,
    channelId: string,
    added: readonly Event[],
  ): Promise<void> => {
    await updateObject(ctx, key, format, (events = []) => {
      const other = !bluelink
        ? undefined
        : events.find((e) => e.channelType !== channelType || e.channelId !== channelId);
      if (other !== undefined)
        throw new StateKeeperError(
          "E_ALREADY_EXISTS",
          `event channel ${channelType}/${channelId} shares its Bluelink partition ${key} with channel ${other.channelType}/${other.channelId} (Bluelink names partitions <type>_<id>); nothing was written`,
          {
            details: {
              reason: "bluelink_partition_collision",
              key,
              channelType,
              channelId,
              otherChannelType: other.channelType,
              otherChannelId: other.channelId,
            },
          },
        );
      let next = events;
      for (const event of added) {
        next = next.filter((e) => e.id !== event.id);
        // Ids from another process may be a millisecond behind ours: insert in id order.
        let at = next.length;
        while (at > 0 && (next[at - 1] as Event).id > event.id) at--;
        next = next.toSpliced(at, 0, event);
      }
      if (jsonSize(format.encode(next)) > options.maxEventPartitionBytes)
        throw new StateKeeperError(
          "E_TOO_LARGE",
          `event partition for channel ${channelType}/${channelId} would exceed ${options.maxEventPartitionBytes} bytes`,
          {
            details: {
              reason: "max_event_partition_size_exceeded",
              channelType,
              channelId,
              maxEventPartitionBytes: options.maxEventPartitionBytes,
            },
          },
        );
      return { put: next };
    });
    await reindex(key);
    saved.emit(key);
  };

  return {
    async channels() {
      const seen = new Map<string, { channelType: string; channelId: string }>();
      for (const key of await allPartitionKeys())
        for (const { channelType, channelId } of await readStored(key))
          seen.set(JSON.stringify([channelType, channelId]), { channelType, channelId });
      return [...seen.values()];
    },

    async importEvents(channelType, channelId, events) {
      const key = partitionKey(channelType, channelId);
      for (const event of events) {
        checkName("event id", event.id);
        if (event.channelType !== channelType || event.channelId !== channelId)
          throw new StateKeeperError(
            "E_INVALID_ARGUMENT",
            `event ${event.id} is not of channel ${channelType}/${channelId}`,
            {
              details: { eventId: event.id, channelType, channelId },
            },
          );
      }
      if (events.length > 0) await insertEvents(key, channelType, channelId, events);
    },

    async save(input) {
      const key = partitionKey(input.channelType, input.channelId);
      checkName("event type", input.type);
      const event: Event = {
        ...structuredClone(input),
        id: input.id === undefined ? nextId() : checkName("event id", input.id),
        timestamp: input.timestamp ?? Math.floor(options.clock().getTime() / 1000),
        end: input.end ?? false,
      };
      await insertEvents(key, input.channelType, input.channelId, [event]);
      return event;
    },

    async get(id, channel) {
      checkName("event id", id);
      if (channel !== undefined) {
        const key = partitionKey(channel.channelType, channel.channelId);
        return (await readPartition(key, channel.channelType, channel.channelId)).find((e) => e.id === id);
      }
      const hinted = bluelink ? await indexedPartition(id) : undefined;
      // The index is a hint: Bluelink's own processes may have written it from a partial view.
      const keys = await allPartitionKeys();
      for (const key of hinted === undefined ? keys : [hinted, ...keys.filter((k) => k !== hinted)]) {
        const found = (await readStored(key)).find((e) => e.id === id);
        if (found !== undefined) return found;
      }
      return undefined;
    },

    async list(channelType, channelId) {
      return readPartition(partitionKey(channelType, channelId), channelType, channelId);
    },

    async *stream(params) {
      const key = partitionKey(params.channelType, params.channelId);
      const pollIntervalMs = params.pollIntervalMs ?? 500;
      const read = () => readPartition(key, params.channelType, params.channelId);
      const events = await read();
      const since = Math.floor(options.clock().getTime() / 1000) - options.recentEventsSeconds;
      const start = params.startingEventId;
      let cursor = events.at(-1)?.id;
      for (const event of events) {
        if (start !== undefined ? event.id < start : event.timestamp < since) continue;
        yield event;
        if (event.end) return;
      }
      const aborted = () => params.signal?.aborted === true;
      while (!aborted()) {
        await nextWake(saved, key, pollIntervalMs, params.signal);
        if (aborted()) return;
        const fresh = (await read()).filter((e) => cursor === undefined || e.id > cursor);
        for (const event of fresh) {
          cursor = event.id;
          yield event;
          if (event.end) return;
        }
      }
    },

    async cleanup(threshold) {
      const cutoff = threshold.getTime() / 1000;
      let removed = 0;
      for (const key of await allPartitionKeys()) {
        let removedHere = 0;
        await updateObject(ctx, key, format, (events = []) => {
          const kept = events.filter((e) => e.timestamp >= cutoff);
          removedHere = events.length - kept.length;
          if (removedHere === 0) return { keep: true };
          // Bluelink deletes a partition left empty (`UpdateEventPartitionsForRemovals`).
          return bluelink && kept.length === 0 ? { remove: true } : { put: kept };
        });
        if (removedHere > 0) await reindex(key);
        removed += removedHere;
      }
      return removed;
    },
  };
}

/** Resolves after `ms`, when this process saves to `key`, or when `signal` aborts. */
function nextWake(
  saved: EventEmitter,
  key: string,
  ms: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      saved.off(key, done);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    saved.on(key, done);
    signal?.addEventListener("abort", done, { once: true });
  });
}
