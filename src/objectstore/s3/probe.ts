import { STALE_PROBE_AGE_MS, settleProbe, sweepStaleProbeObjects } from "../probe.js";
import type { Capabilities, ObjectInfo } from "../types.js";
import { isStoreError } from "../types.js";
import { type EtagForm, formatEtag } from "./etag.js";

/**
 * What the probe needs from the driver: requests with conditions sent exactly as given. `rawPut`
 * is one logical write under one write id, whose lost responses the driver resolves (a retry's
 * 412 caused by the write's own first attempt is recognised as success), as for every PUT.
 */
export interface S3Primitives {
  rawPut(key: string, body: Uint8Array, cond: { ifNoneMatch?: "*"; ifMatch?: string }): Promise<string>;
  rawDelete(key: string, ifMatch?: string): Promise<unknown>;
  get(key: string): Promise<{ body: Uint8Array; etag: string } | undefined>;
  head(key: string): Promise<ObjectInfo | undefined>;
  list(prefix: string): AsyncIterable<ObjectInfo>;
}

export interface S3ProbeResult {
  capabilities: Capabilities;
  /** The If-Match form the store accepted, when compare-and-swap works at all. */
  etagForm: EtagForm | undefined;
}

type Outcome = "ok" | "refused" | "not-implemented";

/** "refused" for a failed precondition, "not-implemented" for 501; other errors are real failures. */
async function attempt(request: () => Promise<unknown>): Promise<Outcome> {
  try {
    await request();
    return "ok";
  } catch (e) {
    if (isStoreError(e, "PRECONDITION_FAILED")) return "refused";
    if (isStoreError(e, "UNSUPPORTED")) return "not-implemented";
    throw e;
  }
}

const text = (s: string) => new TextEncoder().encode(s);

/**
 * Checks with real requests under a scratch key which preconditions the store honours, and
 * which If-Match form it wants. Every "no" becomes `false` plus a note naming the check, so
 * the backend can refuse the store (E_UNSUPPORTED_STORE) before writing any state. Errors that
 * are not a "no" (access denied, no such bucket, unreachable) are thrown. Probe objects are
 * written like every other object (with SSE-KMS when configured), then removed, as are those of
 * earlier probes that were killed (older than `staleAfterMs` by the store's clock). A "no" seen
 * while a request failed in transit is checked again on a fresh key (`settleProbe`).
 * `primitives(observe)` gives the requests of one run, reporting failures in transit to `observe`.
 */
export function probeS3(
  primitives: (observe: () => void) => S3Primitives,
  kmsKeyId: string | undefined,
  staleAfterMs = STALE_PROBE_AGE_MS,
): Promise<S3ProbeResult> {
  return settleProbe((key, observe) => probeOnce(primitives(observe), key, kmsKeyId, staleAfterMs));
}

async function probeOnce(
  p: S3Primitives,
  key: string,
  kmsKeyId: string | undefined,
  staleAfterMs: number,
): Promise<S3ProbeResult> {
  const notes: string[] = [];
  const bodyIs = async (expected: string) =>
    new TextDecoder().decode((await p.get(key))?.body ?? new Uint8Array()) === expected;
  let etagForm: EtagForm | undefined;
  try {
    // 1. create-only on a missing key, then on the existing one.
    let createOnly = false;
    let etag = "";
    const first = await attempt(async () => {
      etag = await p.rawPut(key, text("probe-1"), { ifNoneMatch: "*" });
    });
    if (first !== "ok") {
      notes.push(
        first === "not-implemented"
          ? "create-only: the store answered 501 Not Implemented to If-None-Match: *"
          : "create-only: refused on a key that did not exist",
      );
      etag = await p.rawPut(key, text("probe-1"), {});
    } else {
      const second = await attempt(() => p.rawPut(key, text("probe-2"), { ifNoneMatch: "*" }));
      createOnly = second === "refused" && (await bodyIs("probe-1"));
      notes.push(
        createOnly
          ? "create-only: honoured"
          : second === "not-implemented"
            ? "create-only: the store answered 501 Not Implemented to If-None-Match: * on an existing key"
            : "create-only: IGNORED — a second PUT with If-None-Match: * overwrote the existing object",
      );
      if (!createOnly) etag = await p.rawPut(key, text("probe-1"), {});
    }
    const swept = await sweepStaleProbeObjects(
      { list: (prefix) => p.list(prefix), delete: (k) => p.rawDelete(k) },
      key,
      staleAfterMs,
    );

    // 2. compare-and-swap: a wrong etag in either form must be refused, the right one accepted.
    const wrong = "0".repeat(32);
    let compareAndSwap = false;
    const wrongOutcomes: Outcome[] = [];
    for (const form of ["quoted", "unquoted"] as const) {
      wrongOutcomes.push(
        await attempt(() => p.rawPut(key, text("probe-3"), { ifMatch: formatEtag(wrong, form) })),
      );
      if (!(await bodyIs("probe-1"))) break;
    }
    const wrongRefused = wrongOutcomes.length === 2 && wrongOutcomes.every((o) => o === "refused");
    if (wrongOutcomes.includes("not-implemented")) {
      notes.push("compare-and-swap: the store answered 501 Not Implemented to If-Match");
    } else if (!wrongRefused) {
      notes.push("compare-and-swap: IGNORED — a PUT with a wrong If-Match etag overwrote the object");
    } else {
      for (const form of ["quoted", "unquoted"] as const) {
        const outcome = await attempt(() =>
          p.rawPut(key, text(`probe-${form}`), { ifMatch: formatEtag(etag, form) }),
        );
        if (outcome === "ok" && (await bodyIs(`probe-${form}`))) {
          etagForm = form;
          break;
        }
      }
      compareAndSwap = etagForm !== undefined;
      notes.push(
        compareAndSwap
          ? `compare-and-swap: honoured (If-Match takes the ${etagForm} etag)`
          : "compare-and-swap: the right etag was refused in both quoted and unquoted form",
      );
    }

    // 3. conditional delete with a wrong etag must leave the object; with the right one remove it.
    let conditionalDelete = false;
    const current = await p.head(key);
    const form = etagForm ?? "quoted";
    const wrongDelete = await attempt(() => p.rawDelete(key, formatEtag(wrong, form)));
    const survived = (await p.head(key)) !== undefined;
    if (wrongDelete === "refused" && survived && current !== undefined) {
      const rightDelete = await attempt(() => p.rawDelete(key, formatEtag(current.etag, form)));
      conditionalDelete = rightDelete === "ok" && (await p.head(key)) === undefined;
      notes.push(
        conditionalDelete
          ? "conditional delete: honoured"
          : "conditional delete: the right etag was refused; read-compare-delete is used",
      );
    } else {
      notes.push(
        `conditional delete: ${wrongDelete === "not-implemented" ? "501 Not Implemented" : survived ? "not usable" : "IGNORED (the object was deleted despite a wrong If-Match)"}; ` +
          "delete(key, { ifMatch }) falls back to read-compare-delete, which can remove an object " +
          "written between its read and its delete",
      );
    }
    notes.push(
      kmsKeyId === undefined ? "SSE-KMS: not configured" : `SSE-KMS: every PUT uses key ${kmsKeyId}`,
      ...swept,
    );
    return { capabilities: { createOnly, compareAndSwap, conditionalDelete, notes }, etagForm };
  } finally {
    await p.rawDelete(key).catch(() => {});
  }
}
