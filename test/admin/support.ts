import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AdminProgress } from "../../src/admin/index.js";
import { type Backend, createBackend } from "../../src/backend/index.js";
import { keyEncrypter } from "../../src/crypto/index.js";
import type { Encrypter } from "../../src/crypto/types.js";
import { fileStore } from "../../src/objectstore/file.js";
import { memoryStore } from "../../src/objectstore/memory.js";
import type { ObjectStore } from "../../src/objectstore/types.js";
import { newSnapshot, type Snapshot } from "../../src/snapshot/index.js";
import { rejectsWithCode } from "../../src/testing/assertions.js";

export const FACTORY = "webshop";
export const STACK = "prod";

/** Every store kind the admin functions are tested on, each call a fresh, empty store. */
export const STORES: Array<{ name: string; make: () => ObjectStore }> = [
  { name: "memory", make: () => memoryStore() },
  { name: "file", make: () => fileStore(mkdtempSync(join(tmpdir(), "statekeeper-admin-"))) },
];

export const newKey = (): Encrypter => keyEncrypter({ key: randomBytes(32) });

export function snapshot(addresses: string[], stack = STACK): Snapshot {
  const s = newSnapshot({ name: FACTORY, version: "1.0.0", contentRevision: "abc" }, stack);
  s.entries = addresses.map((address) => ({ address, type: "leaf" as const, kind: "aws:s3:Bucket" }));
  return s;
}

export function open(store: ObjectStore, encrypter?: Encrypter, stack = STACK): Backend {
  return createBackend(store, {
    factory: FACTORY,
    stack,
    ...(encrypter === undefined ? {} : { encrypter }),
    lockDefaults: { leaseMs: 30_000, pollMs: 20 },
  });
}

/** Commits `n` revisions (entries r0, r1, …) and returns their revs, oldest first. */
export async function commitRevisions(backend: Backend, n: number): Promise<string[]> {
  const revs: string[] = [];
  for (let i = 0; i < n; i++) revs.push(await backend.commit(snapshot([`r${i}`])));
  return revs;
}

/** Records every progress event. */
export function recorder<P extends string>(): {
  events: AdminProgress<P>[];
  onProgress: (e: AdminProgress<P>) => void;
} {
  const events: AdminProgress<P>[] = [];
  return { events, onProgress: (e) => events.push(e) };
}

/** Awaits `p` and asserts it rejects with a StateKeeperError of `code`; returns the error. */
export const rejectsWith = rejectsWithCode;
