// The same lifecycle as alchemy-file.test.ts with statekeeper on S3 (the runner's Ceph RGW);
// the baseline stays Alchemy's FileSystemStateStore. makeS3Url throws when no server is set up.
import { describe, it } from "node:test";
import { makeS3Url } from "../support/s3.js";
import { lifecycle } from "./lifecycle.js";

describe("statekeeperStateStore on S3 (RGW)", () => {
  it("deploy, update, remove a resource, destroy: the same resources as FileSystemStateStore", async () => {
    await lifecycle(makeS3Url(), "s3");
  });
});
