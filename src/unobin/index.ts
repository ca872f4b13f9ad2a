// Reading what unobin's localstate and s3state wrote (cloudboss/unobin), for `importUnobinStack`
// (statekeeper/admin) and `statekeeper import`.
export { unobinReadOnlyBackend } from "./backend.js";
export { statekeeperSnapshotOf, type UnobinStoredAs } from "./convert.js";
export {
  type UnobinEncrypter,
  type UnobinEnvKeyOptions,
  unobinEnvKeyEncrypter,
  unobinNoopEncrypter,
} from "./encrypters.js";
export {
  openUnobinStack,
  type UnobinRevision,
  type UnobinSealing,
  type UnobinStack,
  type UnobinStackOptions,
} from "./stack.js";
