import { StateKeeperError } from "../errors.js";
import { backoffDelayMs, CONTENTION_BACKOFF, sleep } from "../internal/backoff.js";
import { contended, DEFAULT_UPDATE_ATTEMPTS } from "../objectstore/transactional.js";
import { bluelinkKey, bluelinkNameRecordFormat } from "./bluelink.js";
import { asRecord, checkName, encodeSegment } from "./codec.js";
import { type ObjectFormat, objectAt, readObject, updateObject } from "./compare-and-swap.js";
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
 * Under Bluelink's naming the name is written raw and the record is `{id, name}`
 * (`KeyBuilder.InstanceByName`, `InstanceNameRecord`). An unnamed instance (empty name) has no
 * record, as in Bluelink (`reserveNameRecord` skips it, statestore/persister.go): every method
 * is a no-op for it and a lookup finds nothing.
 */
export class NameRecords {
  constructor(private readonly ctx: LayoutContext) {}

  private key(name: string): string {
    checkName("instance name", name);
    return this.ctx.naming === "bluelink"
      ? bluelinkKey("instance name", name, this.ctx.prefix, "instances_by_name/")
      : `${this.ctx.prefix}instances_by_name/${encodeSegment(name)}.json`;
  }

  private format(name: string): ObjectFormat<string> {
    return this.ctx.naming === "bluelink" ? bluelinkNameRecordFormat(name) : nameRecordFormat;
  }

  /** Refuses, before any I/O, a name this layout cannot store (empty is fine: unnamed). */
  check(name: string): void {
    if (name !== "") this.key(name);
  }

  async read(name: string): Promise<{ instanceId: string; etag: string } | undefined> {
    if (name === "") return undefined;
    const got = await readObject(this.ctx, this.key(name), this.format(name));
    return got === undefined ? undefined : { instanceId: got.value, etag: got.etag };
  }

  /**
   * Create-only. Returns the id that holds the name afterwards: `instanceId` unless taken.
   * Writes before reading (unlike `updateObject`), so an uncontended create costs one request.
   */
  async create(name: string, instanceId: string): Promise<string> {
    if (name === "") return instanceId;
    const key = this.key(name);
    const record = objectAt(this.ctx, key, this.format(name));
    for (let attempt = 1; attempt <= DEFAULT_UPDATE_ATTEMPTS; attempt++) {
      if ((await record.swap(instanceId, null)) !== undefined) return instanceId;
      const holder = await this.read(name);
      // Removed again between our put and our read: try the create once more.
      if (holder !== undefined) return holder.instanceId;
      await sleep(backoffDelayMs(CONTENTION_BACKOFF, attempt));
    }
    throw contended(key, DEFAULT_UPDATE_ATTEMPTS);
  }

  /**
   * Points `name` at `instanceId` for a plain save: creates it, keeps it, or takes it over from
   * a holder `holds` says no longer counts (`DeploymentCore.holdsName`). A name held by another
   * live instance is `E_ALREADY_EXISTS`.
   */
  async claim(
    name: string,
    instanceId: string,
    holds: (id: string, name: string) => Promise<boolean>,
  ): Promise<void> {
    if (name === "") return;
    await updateObject(this.ctx, this.key(name), this.format(name), async (holder) => {
      if (holder === instanceId) return { keep: true };
      if (holder !== undefined && (await holds(holder, name)))
        throw new StateKeeperError(
          "E_ALREADY_EXISTS",
          `instance name ${JSON.stringify(name)} is already used by instance ${holder}`,
          { details: { instanceName: name, instanceId: holder } },
        );
      return { put: instanceId };
    });
  }

  /** Removes the record if (and only if) it still points at `instanceId`; re-pointed meanwhile, it is left to its new owner. */
  async release(name: string, instanceId: string): Promise<void> {
    const holder = await this.read(name);
    if (holder === undefined || holder.instanceId !== instanceId) return;
    await objectAt(this.ctx, this.key(name), this.format(name)).remove(holder.etag);
  }
}
