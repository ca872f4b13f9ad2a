// The bluelink layout on the file store: buckets laid out as Bluelink's Go code writes them.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { fileStore } from "../../src/objectstore/file.js";
import { bluelinkInteropTests } from "./bluelink-interop.js";

const root = mkdtempSync(join(tmpdir(), "statekeeper-bluelink-"));
after(() => rmSync(root, { recursive: true, force: true }));

bluelinkInteropTests("file", () => fileStore(root));
