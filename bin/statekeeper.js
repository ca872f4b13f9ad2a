#!/usr/bin/env node
import { main } from "../dist/cli/main.js";

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`statekeeper: internal error: ${err?.message ?? err}\n`);
    process.exitCode = 1;
  },
);
