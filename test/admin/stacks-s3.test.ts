// listStacks on a real Ceph RGW: folders come from ListObjectsV2's CommonPrefixes there.
import { describe, it } from "node:test";
import { makeS3Store } from "../support/s3.js";
import { modesAgree } from "./support.js";

describe("listStacks without counting revisions (s3 store)", () => {
  it("finds every kind of stack, and nothing else, counting revisions or not", async () => {
    await modesAgree(await makeS3Store());
  });
});
