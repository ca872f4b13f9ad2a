import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { pathToFileURL } from "node:url";
import { openRecordStore } from "../../src/records/store.js";
import { freshPrefix } from "../../src/testing/records-fixtures.js";
import { assertNoLostUpdates } from "./increment-race.js";

const root = mkdtempSync(join(tmpdir(), "statekeeper-records-race-"));
after(() => rmSync(root, { recursive: true, force: true }));

test("8 processes × 25 read-modify-write increments with ifMatch on a file store lose no update", async () => {
  const url = pathToFileURL(root).href;
  const records = await openRecordStore(url, { prefix: freshPrefix("race") });
  await assertNoLostUpdates(records, { target: url, processes: 8, rounds: 25 });
});
