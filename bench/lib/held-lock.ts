import { createBackend, type HeadMode } from "../../src/backend/index.js";
import { noopEncrypter } from "../../src/crypto/index.js";
import type { ObjectStore } from "../../src/objectstore/types.js";
import type { Entry, Snapshot } from "../../src/snapshot/index.js";
import { recordingStore } from "../../src/testing/store-decorators.js";
import { makeEntry } from "./fixtures.js";
import { rate } from "./measure.js";

/**
 * Commits under one held lock, as an engine commits after each resource action: `n` one-entry
 * changes (`commitChanges`) of `snapshot`, noop encrypter, on a stack with the given head. Returns
 * the rate, the store requests per commit, and the mean size of the objects that carry a revision
 * (a snapshot object, or the log entry a revision is sealed into).
 */
export async function heldLockCommits(store: ObjectStore, n: number, snapshot: Snapshot, head: HeadMode) {
  const revisionBytes: number[] = [];
  const sizing: ObjectStore = {
    ...store,
    put: (key, body, opts) => {
      if (key.includes("/snapshots/") || key.includes("/log/")) revisionBytes.push(body.byteLength);
      return store.put(key, body, opts);
    },
  };
  const recorded = recordingStore(sizing);
  const backend = createBackend(recorded.store, {
    factory: "bench",
    stack: snapshot.stack,
    encrypter: noopEncrypter(),
    head,
  });
  await backend.commit(snapshot);
  const lock = await backend.lock();
  try {
    recorded.calls.length = 0;
    revisionBytes.length = 0;
    const entries = snapshot.entries.length;
    // Made before the clock starts: the floors it is compared with write bytes made beforehand.
    const changes = Array.from({ length: n }, (_, i) => makeEntry(i % entries, i + 1));
    const perSecond = await rate(n, (i) => backend.commitChanges({ upsert: [changes[i] as Entry] }));
    const meanRevisionBytes = Math.round(revisionBytes.reduce((a, b) => a + b, 0) / revisionBytes.length);
    return { perSecond, requestsPerCommit: recorded.calls.length / n, meanRevisionBytes };
  } finally {
    await lock.unlock();
  }
}
