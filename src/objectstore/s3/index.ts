// The package entry `statekeeper/s3`: the S3 driver. Its modules load no AWS SDK code until the
// first request. Most users reach it through a URL (`openStore("s3://bucket/prefix?region=…")`).
export { type S3Credentials, type S3StoreOptions, s3OptionsFromUrl } from "./options.js";
export { s3Store, s3StoreFromUrl } from "./store.js";
