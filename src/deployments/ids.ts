import { randomBytes } from "node:crypto";

const RANDOM_BITS = 74n;
const RANDOM_MASK = (1n << RANDOM_BITS) - 1n;

/**
 * UUIDv7 ids (RFC 9562, "monotonic random" method): a 48-bit millisecond timestamp, then 74
 * bits that start random each millisecond and count up within it. Ids from one generator sort
 * (as strings) in creation order even within one millisecond or if the clock steps back; ids from
 * different processes sort by time to the millisecond.
 */
export function timeOrderedIdGenerator(nowMs: () => number = Date.now): () => string {
  let lastMs = -1;
  let counter = 0n;
  return () => {
    let ms = Math.max(nowMs(), lastMs);
    if (ms > lastMs) {
      // The top bit starts clear so a millisecond has room for 2^73 increments.
      counter = BigInt(`0x${randomBytes(10).toString("hex")}`) & (RANDOM_MASK >> 1n);
    } else {
      counter++;
      if (counter > RANDOM_MASK) {
        ms++;
        counter = 0n;
      }
    }
    lastMs = ms;
    const randA = (counter >> 62n) & 0xfffn;
    const randB = counter & ((1n << 62n) - 1n);
    const hex =
      ms.toString(16).padStart(12, "0") +
      "7" +
      randA.toString(16).padStart(3, "0") +
      ((2n << 62n) | randB).toString(16).padStart(16, "0");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  };
}
