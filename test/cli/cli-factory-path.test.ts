// A factory named like a Go module path on the file store, through the real binary; the same
// scenario runs on RGW in cli-s3.test.ts.
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { before, describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { factoryPathRoundTrip } from "./factory-path.js";
import { ensureBuilt, tempDir } from "./helpers.js";

before(ensureBuilt);

function filesUnder(root: string, dir = root): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(root, p) : [relative(root, p)];
  });
}

describe("a factory named like a module path (file store)", () => {
  it("is pushed, listed and read back by its name, stored under one encoded folder", async () => {
    const root = join(tempDir("factory-path-store"), "state");
    await factoryPathRoundTrip(pathToFileURL(root).href, async () => filesUnder(root));
  });
});
