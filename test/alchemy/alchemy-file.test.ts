// Alchemy's StateStore on statekeeper, with a real Alchemy app in child processes, on the file store.

import { join } from "node:path";
import { describe, it } from "node:test";
import { tempDir } from "./helpers.js";
import { lifecycle } from "./lifecycle.js";

describe("statekeeperStateStore on the file store", () => {
  it("deploy, update, remove a resource, destroy: the same resources as FileSystemStateStore", async () => {
    await lifecycle(`file:${join(tempDir("file"), "state")}`, "file");
  });
});
