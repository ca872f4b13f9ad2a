// The history checker on synthetic histories: a clean run passes, and each way a store can fail
// its clients (a lost acknowledged commit, a fork, a revision that is not its parent plus one
// entry, a duplicated entry, a refused commit that landed, unreadable data) is caught and named.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Entry } from "../../src/snapshot/index.js";
import { chaosAddress, chaosEntry } from "../fixtures/chaos/stack.js";
import {
  type AckedCommit,
  checkHistory,
  type Intrusion,
  type RefusedCommit,
  type StoredHistory,
  summarizeRevision,
} from "./history.js";

/** Builds a store's revisions the way workers do: each is its parent's entries plus one. */
class FakeStack {
  readonly revisions = new Map<string, Entry[]>();
  readonly acks: AckedCommit[] = [];
  readonly refused: RefusedCommit[] = [];
  readonly intrusions: Intrusion[] = [];

  /** Writes `rev` = `parent` + entry w<worker>-<n>; returns its address. */
  write(rev: string, parent: string, worker: number, n: number): string {
    const base = parent === "" ? [] : (this.revisions.get(parent) as Entry[]);
    this.revisions.set(rev, [...base, chaosEntry({ worker, n, parent, seq: base.length + 1 })]);
    return chaosAddress(worker, n);
  }

  /** Writes and acknowledges. */
  commit(rev: string, parent: string, worker: number, n: number): void {
    this.acks.push({ address: this.write(rev, parent, worker, n), rev });
  }

  stored(current: string, extra: Partial<StoredHistory> = {}): StoredHistory {
    return {
      revisions: new Map([...this.revisions].map(([rev, entries]) => [rev, summarizeRevision(entries)])),
      unreadable: [],
      current: { rev: current, entries: this.revisions.get(current) as Entry[] },
      ...extra,
    };
  }

  check(current: string, extra: Partial<StoredHistory> = {}) {
    return checkHistory(
      { acks: this.acks, refused: this.refused, intrusions: this.intrusions },
      this.stored(current, extra),
    );
  }
}

/** r1 … r4 committed and acknowledged by two workers, one after the other. */
function fourCommits(): FakeStack {
  const s = new FakeStack();
  s.commit("r1", "", 1, 1);
  s.commit("r2", "r1", 2, 1);
  s.commit("r3", "r2", 1, 2);
  s.commit("r4", "r3", 2, 2);
  return s;
}

const kinds = (r: ReturnType<FakeStack["check"]>) => r.violations.map((v) => v.kind).sort();

describe("the chaos history checker", () => {
  test("a clean history with orphans and an unacknowledged commit passes, with its figures", () => {
    const s = fourCommits();
    // A fenced writer's revision, built on r2, never made current: an orphan, not a failure.
    s.write("o1", "r2", 3, 1);
    s.refused.push({ address: "w3-1", code: "E_FENCED", rev: "o1" });
    // Killed after its commit landed but before its ack: on the line, never acknowledged.
    s.write("r5", "r4", 3, 2);
    const r = s.check("r5");
    assert.deepEqual(r.violations, []);
    assert.deepEqual(r.lost, []);
    assert.deepEqual(r.duplicated, []);
    assert.deepEqual(r.line, ["r1", "r2", "r3", "r4", "r5"]);
    assert.deepEqual(r.orphans, ["o1"]);
    assert.equal(r.acknowledged, 4);
    assert.equal(r.unacknowledgedOnLine, 1);
  });

  test("an empty store with nothing acknowledged passes", () => {
    const r = checkHistory(
      { acks: [], refused: [] },
      { revisions: new Map(), unreadable: [], current: undefined },
    );
    assert.deepEqual([r.line, r.orphans, r.lost, r.violations], [[], [], [], []]);
  });

  test("a lost acknowledged commit: a stale writer's revision replaced it as current", () => {
    const s = fourCommits();
    // x4 extends r3 as r4 did; current names x4, so r4 (acknowledged) fell off the line.
    s.write("x4", "r3", 3, 1);
    const r = s.check("x4");
    assert.deepEqual(r.lost, ["w2-2"]);
    assert.deepEqual(kinds(r), ["ack-off-line"]);
    assert.deepEqual(r.line, ["r1", "r2", "r3", "x4"]);
  });

  test("a fork: two acknowledged commits extend the same parent", () => {
    const s = fourCommits();
    s.commit("x4", "r3", 3, 1);
    const r = s.check("x4");
    assert.deepEqual(r.lost, ["w2-2"]);
    assert.deepEqual(kinds(r), ["ack-off-line", "fork"]);
    assert.match(r.violations.find((v) => v.kind === "fork")?.detail ?? "", /w2-2 \(r4\), w3-1 \(x4\).*r3/);
  });

  test("a revision that drops an entry of its parent is not an extension", () => {
    const s = fourCommits();
    const r4 = s.revisions.get("r4") as Entry[];
    s.revisions.set(
      "r4",
      r4.filter((e) => e.address !== "w1-1"),
    );
    const r = s.check("r4");
    assert.deepEqual(r.lost, ["w1-1"]);
    assert.deepEqual(kinds(r), ["not-an-extension"]);
    assert.match(
      r.violations[0]?.detail ?? "",
      /^r4 \(adds w2-2 as seq 4, 3 entries\) is not r3 \(3 entries\)/,
    );
    assert.deepEqual([r.violations[0]?.rev, r.violations[0]?.parent], ["r4", "r3"]);
  });

  test("a revision that changes an entry of its parent is not an extension", () => {
    const s = fourCommits();
    const r4 = s.revisions.get("r4") as Entry[];
    s.revisions.set(
      "r4",
      r4.map((e) => (e.address === "w2-1" ? { ...e, inputs: { ...e.inputs, parent: "r0" } } : e)),
    );
    assert.deepEqual(kinds(s.check("r4")), ["not-an-extension"]);
  });

  test("a revision whose new entry skips a seq is not an extension", () => {
    const s = fourCommits();
    s.revisions.set("r5", [
      ...(s.revisions.get("r4") as Entry[]),
      chaosEntry({ worker: 3, n: 1, parent: "r4", seq: 9 }),
    ]);
    assert.deepEqual(kinds(s.check("r5")), ["not-an-extension"]);
  });

  test("a duplicated entry: one commit applied twice along the line", () => {
    const s = fourCommits();
    // r5 adds w2-2 again on top of r4, which already holds it.
    s.revisions.set("r5", [
      ...(s.revisions.get("r4") as Entry[]),
      chaosEntry({ worker: 2, n: 2, parent: "r4", seq: 5 }),
    ]);
    const r = s.check("r5");
    assert.deepEqual(r.duplicated, ["w2-2"]);
    assert.deepEqual(r.lost, []);
  });

  test("an acknowledged rev that holds another entry, and one that is not stored", () => {
    const s = fourCommits();
    s.acks.push({ address: "w9-1", rev: "r2" }, { address: "w9-2", rev: "gone" });
    const r = s.check("r4");
    assert.deepEqual(kinds(r), ["ack-mismatch", "ack-unknown-rev"]);
    assert.deepEqual(r.lost, ["w9-1", "w9-2"]);
  });

  test("a commit refused with E_FENCED or E_LOCK_LOST that is in the committed history", () => {
    const s = fourCommits();
    s.write("r5", "r4", 3, 1);
    s.refused.push(
      { address: "w3-1", code: "E_FENCED", rev: "r5" },
      { address: "w2-2", code: "E_LOCK_LOST" },
    );
    const r = s.check("r5");
    assert.deepEqual(kinds(r), ["refused-landed", "refused-landed"]);
  });

  test("a stale writer won: a holder whose lock nobody took over was fenced", () => {
    const s = fourCommits();
    // w1's commit landed after its lease lapsed; w3, the rightful holder, was fenced by it.
    s.write("o5", "r4", 3, 1);
    s.refused.push({ address: "w3-1", code: "E_FENCED", rev: "o5" });
    s.intrusions.push({ worker: 3, lock: "1a2b3c4d", during: "commit", address: "w3-1" });
    const r = s.check("r4");
    assert.deepEqual(kinds(r), ["stale-writer-won"]);
    assert.match(r.violations[0]?.detail ?? "", /w3 held lock 1a2b3c4d.*w3-1 was fenced/);
    assert.deepEqual(r.lost, [], "no acknowledged commit was lost: the fence held");
  });

  test("two holders: a lock reported taken over that its old holder still finds as its own", () => {
    const s = fourCommits();
    s.intrusions.push({ worker: 3, lock: "1a2b3c4d", during: "read" });
    const r = checkHistory(
      {
        acks: s.acks,
        refused: [],
        intrusions: s.intrusions,
        takeovers: [{ worker: 2, lock: "99887766", from: "1a2b3c4d" }],
      },
      s.stored("r4"),
    );
    assert.deepEqual(kinds(r), ["two-holders"]);
    assert.match(r.violations[0]?.detail ?? "", /w2 took lock 1a2b3c4d over \(as 99887766\), yet w3/);
  });

  test("a line that reaches a revision that is not stored, or loops", () => {
    const s = fourCommits();
    s.revisions.delete("r2");
    const broken = s.check("r4");
    assert.ok(kinds(broken).includes("broken-line"));
    assert.deepEqual(broken.lost.sort(), [], "the final state still holds every entry");

    const loop = new FakeStack();
    loop.revisions.set("a", [chaosEntry({ worker: 1, n: 1, parent: "b", seq: 1 })]);
    loop.revisions.set("b", [chaosEntry({ worker: 1, n: 2, parent: "a", seq: 1 })]);
    assert.ok(kinds(loop.check("a")).includes("broken-line"));
  });

  test("unreadable revisions and an unreadable current are violations; every ack is then lost", () => {
    const s = fourCommits();
    const r = s.check("r4", {
      unreadable: [{ rev: "o9", code: "E_DECRYPT", message: "authentication failed" }],
      current: { rev: "r4", error: { rev: "r4", code: "E_CORRUPT", message: "digest mismatch" } },
    });
    assert.deepEqual(kinds(r), ["unreadable-current", "unreadable-revision"]);
    assert.equal(r.lost.length, 4);
    assert.ok(r.orphans.includes("o9"));
  });

  test("current() opening other entries than its revision holds", () => {
    const s = fourCommits();
    const r = s.check("r4", { current: { rev: "r4", entries: s.revisions.get("r3") as Entry[] } });
    assert.ok(kinds(r).includes("current-differs"));
  });

  test("an entry that is not a chaos entry is malformed", () => {
    const s = fourCommits();
    s.revisions.set("r5", [
      ...(s.revisions.get("r4") as Entry[]),
      { address: "stray", type: "leaf", kind: "x" },
    ]);
    assert.ok(kinds(s.check("r4")).includes("malformed-entry"));
  });
});
