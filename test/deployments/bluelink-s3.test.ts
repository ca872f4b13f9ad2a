// The bluelink layout on a real S3 server (the Ceph RGW scripts/run-tests.mjs starts): buckets
// laid out as Bluelink's Go code writes them. makeS3Store throws when no server is configured,
// so this file fails rather than skips.
import { makeS3Store } from "../support/s3.js";
import { bluelinkInteropTests } from "./bluelink-interop.js";

bluelinkInteropTests("s3", () => makeS3Store());
