import { makeS3Url } from "../support/s3.js";
import { protocolSuite } from "./protocol-suite.js";

protocolSuite("Ceph RGW", { storeUrl: () => makeS3Url() });
