// The spaces key layout and migrate-keys on a real S3 server (Ceph RGW started by
// scripts/run-tests.mjs, or any endpoint in STATEKEEPER_TEST_S3_*), on objects laid out exactly
// as DigitalOcean's Spaces state store writes them. makeS3Store() throws when no server is
// configured: this file fails, it never skips.
import { makeS3Store } from "../support/s3.js";
import { spacesLayoutCases } from "./spaces-layout-cases.js";

spacesLayoutCases("s3", () => makeS3Store());
