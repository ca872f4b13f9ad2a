import { StateKeeperError } from "../errors.js";
import {
  backoff,
  checkName,
  decodeObject,
  encodeObject,
  encodeSegment,
  isWriteRace,
  MAX_WRITE_ATTEMPTS,
  tooManyRaces,
} from "./codec.js";
import type { LayoutContext } from "./layout.js";
import { asRecord } from "./per-entity.js";

/**
 * Name records `<prefix>instances_by_name/<encoded name>.json` → `{instanceId}`: a name lookup
 * is one GET, never a listing, and a create-only write makes names unique across processes.
 * Always one object per name, whatever the layout, because uniqueness needs create-only puts.
 */
export class NameRecords {
  constructor(private readonly ctx: LayoutContext) {}

  private key(name: string): string {
    return `${this.ctx.prefix}instances_by_name/${encodeSegment(checkName("instance name", name))}.json`;
  }

  async read(name: string): Promise<{ instanceId: string; etag: string } | undefined> {
    const key = this.key(name);
    const got = await this.ctx.store.get(key);
    if (got === undefined) return undefined;
    const record = asRecord<{ instanceId?: unknown }>(
      await decodeObject(got.body, key, this.ctx.encrypter),
      key,
    );
    if (typeof record.instanceId !== "string")
      throw new StateKeeperError("E_CORRUPT", `name record ${key} has no instanceId`, { details: { key } });
    return { instanceId: record.instanceId, etag: got.etag };
  }

  /** Create-only. Returns the id that holds the name afterwards: `instanceId` unless taken. */
  async create(name: string, instanceId: string): Promise<string> {
    const key = this.key(name);
    for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
      try {
        await this.ctx.store.put(key, await encodeObject({ instanceId }, key, this.ctx.encrypter), {
          ifNoneMatch: "*",
        });
        return instanceId;
      } catch (e) {
        if (!isWriteRace(e)) throw e;
        const holder = await this.read(name);
        // Removed again between our put and our read: try the create once more.
        if (holder !== undefined) return holder.instanceId;
        await backoff(attempt);
      }
    }
    throw tooManyRaces(key, undefined);
  }

  /**
   * Points `name` at `instanceId` for a plain save: creates it, keeps it, or takes it over from
   * an instance that no longer exists. A name held by another live instance is `E_ALREADY_EXISTS`.
   */
  async claim(name: string, instanceId: string, exists: (id: string) => Promise<boolean>): Promise<void> {
    const key = this.key(name);
    let lastRace: unknown;
    for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
      const holder = await this.read(name);
      if (holder?.instanceId === instanceId) return;
      if (holder !== undefined && (await exists(holder.instanceId)))
        throw new StateKeeperError(
          "E_ALREADY_EXISTS",
          `instance name ${JSON.stringify(name)} is already used by instance ${holder.instanceId}`,
          { details: { instanceName: name, instanceId: holder.instanceId } },
        );
      try {
        const body = await encodeObject({ instanceId }, key, this.ctx.encrypter);
        await this.ctx.store.put(
          key,
          body,
          holder === undefined ? { ifNoneMatch: "*" } : { ifMatch: holder.etag },
        );
        return;
      } catch (e) {
        if (!isWriteRace(e)) throw e;
        lastRace = e;
        await backoff(attempt);
      }
    }
    throw tooManyRaces(key, lastRace);
  }

  /** Removes the record if (and only if) it still points at `instanceId`. */
  async release(name: string, instanceId: string): Promise<void> {
    const holder = await this.read(name);
    if (holder === undefined || holder.instanceId !== instanceId) return;
    try {
      await this.ctx.store.delete(this.key(name), this.ctx.conditionalDelete ? { ifMatch: holder.etag } : {});
    } catch (e) {
      // Re-pointed meanwhile by another writer: the record is theirs now.
      if (!isWriteRace(e)) throw e;
    }
  }
}
