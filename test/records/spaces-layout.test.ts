// The spaces key layout and migrate-keys on the file store, on objects laid out exactly as
// DigitalOcean's Spaces state store writes them (./spaces-original.ts). The same cases run on
// RGW in spaces-layout-s3.test.ts.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { fileStore } from "../../src/objectstore/file.js";
import { spacesLayoutCases } from "./spaces-layout-cases.js";

const root = mkdtempSync(join(tmpdir(), "statekeeper-spaces-"));
after(() => rmSync(root, { recursive: true, force: true }));

spacesLayoutCases("file", async () => fileStore(root));
