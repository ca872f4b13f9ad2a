import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { tempDir } from "../cli/helpers.js";
import { protocolSuite } from "./protocol-suite.js";

protocolSuite("file store", { storeUrl: () => pathToFileURL(join(tempDir("serve-store"), "state")).href });

// The same protocol on stacks the server creates headed by a log (`statekeeper --head log serve`):
// a Terraform client's lock is a lock entry, each state it posts one commit entry.
protocolSuite("file store, log head", {
  storeUrl: () => pathToFileURL(join(tempDir("serve-store-log"), "state")).href,
  head: "log",
});
