import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { tempDir } from "../cli/helpers.js";
import { protocolSuite } from "./protocol-suite.js";

protocolSuite("file store", { storeUrl: () => pathToFileURL(join(tempDir("serve-store"), "state")).href });
