// The stack log on a real Ceph RGW, and on the same RGW through a decorator that ignores If-Match:
// the protocol uses create-only writes and listings alone.
import { ignoringIfMatchStore } from "../../src/testing/index.js";
import { makeS3Store } from "../support/s3.js";
import { stackLogSuite } from "./stack-log-suite.js";

stackLogSuite("RGW", () => makeS3Store());
stackLogSuite("RGW, If-Match ignored", async () => ignoringIfMatchStore(await makeS3Store()));
