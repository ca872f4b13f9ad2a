export { type S3Credentials, type S3StoreOptions, s3OptionsFromUrl } from "./options.js";
export { s3Store, s3StoreFromUrl } from "./store.js";
