import { EventEmitter } from "node:events";
import { StateKeeperError } from "../errors.js";
import { asRecord, checkName, encodeSegment, jsonSize } from "./codec.js";
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
 */
export function eventsContainer(ctx: LayoutContext, options: EventsOptions): EventsContainer {
  const partitionsPrefix = `${ctx.prefix}events__`;
  const partitionKey = (channelType: string, channelId: string) =>
    `${partitionsPrefix}${encodeSegment(checkName("channel type", channelType))}_${encodeSegment(checkName("channel id", channelId))}.json`;
  const nextId = timeOrderedIdGenerator(() => options.clock().getTime());
  const saved = new EventEmitter().setMaxListeners(0);

  const readPartition = async (key: string): Promise<Event[]> =>
    (await readObject(ctx, key, partitionFormat))?.value ?? [];

  const allPartitionKeys = async (): Promise<string[]> => {
    const keys: string[] = [];
    for await (const info of ctx.store.list(partitionsPrefix))
      if (!info.key.includes("/", partitionsPrefix.length)) keys.push(info.key);
    return keys;
  };

  return {
    async save(input) {
      const key = partitionKey(input.channelType, input.channelId);
      checkName("event type", input.type);
      const event: Event = {
        ...structuredClone(input),
        id: input.id === undefined ? nextId() : checkName("event id", input.id),
        timestamp: input.timestamp ?? Math.floor(options.clock().getTime() / 1000),
        end: input.end ?? false,
      };
      await updateObject(ctx, key, partitionFormat, (events = []) => {
        // Ids from another process may be a millisecond behind ours: insert in id order.
        let at = events.length;
        while (at > 0 && (events[at - 1] as Event).id > event.id) at--;
        const next = events.toSpliced(at, 0, event);
        if (jsonSize({ events: next }) > options.maxEventPartitionBytes)
          throw new StateKeeperError(
            "E_TOO_LARGE",
            `event partition for channel ${input.channelType}/${input.channelId} would exceed ${options.maxEventPartitionBytes} bytes`,
            {
              details: {
                reason: "max_event_partition_size_exceeded",
                channelType: input.channelType,
                channelId: input.channelId,
                maxEventPartitionBytes: options.maxEventPartitionBytes,
              },
            },
          );
        return { put: next };
      });
      saved.emit(key);
      return event;
    },

    async get(id, channel) {
      checkName("event id", id);
      const keys =
        channel === undefined
          ? await allPartitionKeys()
          : [partitionKey(channel.channelType, channel.channelId)];
      for (const key of keys) {
        const found = (await readPartition(key)).find((e) => e.id === id);
        if (found !== undefined) return found;
      }
      return undefined;
    },

    async list(channelType, channelId) {
      return readPartition(partitionKey(channelType, channelId));
    },

    async *stream(params) {
      const key = partitionKey(params.channelType, params.channelId);
      const pollIntervalMs = params.pollIntervalMs ?? 500;
      const events = await readPartition(key);
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
        const fresh = (await readPartition(key)).filter((e) => cursor === undefined || e.id > cursor);
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
        await updateObject(ctx, key, partitionFormat, (events = []) => {
          const kept = events.filter((e) => e.timestamp >= cutoff);
          removedHere = events.length - kept.length;
          return removedHere === 0 ? { keep: true } : { put: kept };
        });
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
