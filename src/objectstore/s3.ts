// The S3 driver lives in ./s3/; this entry keeps `import("./s3.js")` (openStore) and the
// package index free of the AWS SDK, which the driver loads on its first request.
export {
  type S3Credentials,
  type S3StoreOptions,
  s3OptionsFromUrl,
  s3Store,
  s3StoreFromUrl,
} from "./s3/index.js";
