// The same lifecycle as alchemy-file.test.ts with statekeeper on S3 (the runner's Ceph RGW);
// the comparison with FileSystemStateStore is made once, in alchemy-file.test.ts. makeS3Url
// throws when no server is set up.
import { describe, it } from "node:test";
import { makeS3Url } from "../support/s3.js";
import { lifecycle } from "./lifecycle.js";

describe("statekeeperStateStore on S3 (RGW)", () => {
  it("deploy, update, remove a resource (orphan deleted), destroy", async () => {
    await lifecycle(makeS3Url(), "s3", { baseline: false });
  });
});
