/**
 * Runs `work` on every item with at most `limit` calls in flight, and resolves with the results in
 * item order. The first rejection rejects the whole call (the remaining items are not started).
 * Reads of many objects (history, listings) use it so a remote store is not asked one request at
 * a time, nor a thousand at once.
 */
export async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const index = next++;
      try {
        results[index] = await work(items[index] as T, index);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}
