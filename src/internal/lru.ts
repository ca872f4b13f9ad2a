/**
 * A small least-recently-used map, bounded by entry count or by a weight per entry. Keeps the
 * caches of derived or unwrapped keys, of verified chunks and of the server's per-stack headers
 * bounded, so a long-running process does not keep everything it ever saw.
 */
export class LruCache<K, V> {
  readonly #entries = new Map<K, V>();
  readonly #capacity: number;
  readonly #weigh: ((value: V) => number) | undefined;
  #weight = 0;

  /**
   * Holds at most `capacity` entries; with `weigh`, at most `capacity` total weight (bytes, say)
   * instead — an entry heavier than the whole capacity is not kept at all.
   */
  constructor(capacity: number, weigh?: (value: V) => number) {
    this.#capacity = Math.max(1, Math.floor(capacity));
    this.#weigh = weigh;
  }

  #weightOf(value: V): number {
    return this.#weigh === undefined ? 1 : this.#weigh(value);
  }

  get(key: K): V | undefined {
    const value = this.#entries.get(key);
    if (value === undefined) return undefined;
    // Re-inserting moves the entry to the young end of the map's insertion order.
    this.#entries.delete(key);
    this.#entries.set(key, value);
    return value;
  }

  set(key: K, value: V): void {
    this.delete(key);
    const weight = this.#weightOf(value);
    if (weight > this.#capacity) return;
    this.#entries.set(key, value);
    this.#weight += weight;
    while (this.#weight > this.#capacity) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.delete(oldest.value);
    }
  }

  delete(key: K): void {
    const value = this.#entries.get(key);
    if (value === undefined) return;
    this.#entries.delete(key);
    this.#weight -= this.#weightOf(value);
  }

  get size(): number {
    return this.#entries.size;
  }
}
