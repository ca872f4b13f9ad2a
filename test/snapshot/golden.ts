import type { Snapshot } from "../../src/snapshot/index.js";
import { snapshotWith } from "./helpers.js";

/** The snapshot whose encoding is committed as test/fixtures/snapshot/golden-v1.json. */
export function goldenSnapshot(): Snapshot {
  return snapshotWith(
    [
      {
        address: "storage.logs",
        type: "leaf",
        kind: "aws:s3:bucket",
        schemaVersion: 2,
        sensitiveInputs: ["access-key"],
        inputs: { "access-key": "AKIA-not-real", tags: { team: "web", env: "prod" }, versioning: true },
        outputs: { arn: "arn:aws:s3:::logs", size: 1.5, replicas: [3, null, "x"] },
        dependsOn: ["network.vpc"],
        triggerHash: "h1",
      },
      {
        address: "network.vpc",
        type: "library-call",
        library: "aws",
        libraryType: "vpc",
        configuration: "aws.eu",
        inputs: { cidr: "10.0.0.0/16", zones: [], empty: {} },
        // Empty fields are omitted from the encoding.
        kind: "",
        schemaVersion: 0,
        dependsOn: [],
        outputs: {},
      },
      {
        address: "deploy.migrate",
        type: "action",
        kind: "run",
        sensitiveOutputs: ["token"],
        outputs: { token: "t0k" },
      },
    ],
    { outputs: { url: "https://shop.example", "<html>&": "é\u2028" } },
  );
}
