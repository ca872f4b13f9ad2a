import { chunkedLayout } from "./chunked.js";
import type { Change, LayoutContext, RecordLayout, UpdateResult } from "./layout.js";
import { perEntityLayout } from "./per-entity.js";

/**
 * `per-entity` and `chunked`: statekeeper's own layouts. `bluelink`: one object per record as
 * Bluelink's object-store container writes it (its `getConfig` puts every kind on
 * `LayoutPerEntity`, libs/blueprint-state/objectstore/container.go), with its key names.
 */
export type LayoutName = "per-entity" | "chunked" | "bluelink";

/**
 * One kind of record with its in-process cache. Lazy stores fill the cache on a miss, so a
 * process touches only the records it asks for; eager stores fill it at open with `loadAll`.
 * Writes always go through a fresh read (compare-and-swap), never through the cache, so a stale
 * cache can never roll back another process's write. Callers get copies, never cache entries.
 */
export class Collection<T> {
  private readonly layout: RecordLayout<T>;
  private readonly cache = new Map<string, T>();

  constructor(
    ctx: LayoutContext,
    layoutName: LayoutName,
    kind: string,
    private readonly idOf: (record: T) => string,
    /** Told of every record value learned from the store (`undefined`: gone). */
    private readonly observe: (id: string, record: T | undefined) => void = () => {},
  ) {
    this.layout = layoutName === "chunked" ? chunkedLayout(ctx, kind, idOf) : perEntityLayout(ctx, kind);
  }

  /** Refuses, before any I/O, an id this layout cannot store (`E_INVALID_NAME`). */
  checkId(id: string): string {
    this.layout.checkId(id);
    return id;
  }

  /** `record` as a read of it would return it once written. */
  normalise(record: T): T {
    return this.layout.normalise(record);
  }

  /** The record, from the cache or (on a miss) the store. */
  async get(id: string): Promise<T | undefined> {
    const cached = this.cache.get(id);
    if (cached !== undefined) return structuredClone(cached);
    return this.reload(id);
  }

  /** The record as stored right now, refreshing the cache. */
  async reload(id: string): Promise<T | undefined> {
    const record = await this.layout.read(id);
    this.remember(id, record);
    return record === undefined ? undefined : structuredClone(record);
  }

  /** See `RecordLayout.update`. */
  async update(id: string, decide: (current: T | undefined) => Change<T>): Promise<UpdateResult<T>> {
    const result = await this.layout.update(id, decide);
    this.remember(id, result.after);
    return {
      before: result.before === undefined ? undefined : structuredClone(result.before),
      after: result.after === undefined ? undefined : structuredClone(result.after),
    };
  }

  /** Writes `record` whatever is stored (still compare-and-swap, so no concurrent write is half-lost). */
  async put(record: T): Promise<void> {
    await this.update(this.idOf(record), () => ({ put: record }));
  }

  async remove(id: string): Promise<T | undefined> {
    return (await this.update(id, () => ({ remove: true }))).before;
  }

  /** Every stored record (a full read of this kind), refreshing the cache. */
  async all(): Promise<T[]> {
    const records = await this.layout.all();
    for (const record of records) this.remember(this.idOf(record), record);
    return records.map((r) => structuredClone(r));
  }

  private remember(id: string, record: T | undefined): void {
    if (record === undefined) this.cache.delete(id);
    else this.cache.set(id, structuredClone(record));
    this.observe(id, record);
  }
}
