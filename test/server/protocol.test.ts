import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { tempDir } from "../cli/helpers.js";
import { protocolSuite } from "./protocol-suite.js";

// Stacks the server creates are headed by a log (the default): a Terraform client's lock is a
// lock entry, each state it posts one commit entry.
protocolSuite("file store", { storeUrl: () => pathToFileURL(join(tempDir("serve-store"), "state")).href });

// The same protocol on stacks with a current pointer (`statekeeper --head pointer serve`).
protocolSuite("file store, pointer head", {
  storeUrl: () => pathToFileURL(join(tempDir("serve-store-pointer"), "state")).href,
  head: "pointer",
});
