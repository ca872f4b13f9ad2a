import { StateKeeperError } from "../errors.js";
import {
  asRecord,
  backoff,
  checkName,
  encodeSegment,
  isWriteRace,
  MAX_WRITE_ATTEMPTS,
  tooManyRaces,
} from "./codec.js";
import {
  deleteConditionally,
  type ObjectFormat,
  putConditionally,
  readObject,
  updateObject,
} from "./compare-and-swap.js";
import type { LayoutContext } from "./layout.js";

const nameRecordFormat: ObjectFormat<string> = {
  decode(parsed, key) {
    const record = asRecord<{ instanceId?: unknown }>(parsed, key);
    if (typeof record.instanceId !== "string")
      throw new StateKeeperError("E_CORRUPT", `name record ${key} has no instanceId`, { details: { key } });
    return record.instanceId;
  },
  encode: (instanceId) => ({ instanceId }),
};

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
    const got = await readObject(this.ctx, this.key(name), nameRecordFormat);
    return got === undefined ? undefined : { instanceId: got.value, etag: got.etag };
  }

  /**
   * Create-only. Returns the id that holds the name afterwards: `instanceId` unless taken.
   * Writes before reading (unlike `updateObject`), so an uncontended create costs one request.
   */
  async create(name: string, instanceId: string): Promise<string> {
    const key = this.key(name);
    for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
      try {
        await putConditionally(this.ctx, key, nameRecordFormat, instanceId, undefined);
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
    await updateObject(this.ctx, this.key(name), nameRecordFormat, async (holder) => {
      if (holder === instanceId) return { keep: true };
      if (holder !== undefined && (await exists(holder)))
        throw new StateKeeperError(
          "E_ALREADY_EXISTS",
          `instance name ${JSON.stringify(name)} is already used by instance ${holder}`,
          { details: { instanceName: name, instanceId: holder } },
        );
      return { put: instanceId };
    });
  }

  /** Removes the record if (and only if) it still points at `instanceId`. */
  async release(name: string, instanceId: string): Promise<void> {
    const holder = await this.read(name);
    if (holder === undefined || holder.instanceId !== instanceId) return;
    try {
      await deleteConditionally(this.ctx, this.key(name), holder.etag);
    } catch (e) {
      // Re-pointed meanwhile by another writer: the record is theirs now.
      if (!isWriteRace(e)) throw e;
    }
  }
}
