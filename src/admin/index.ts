// statekeeper/admin: whole-stack workflows (verify, migrate, rekey, prune, list), as the CLI runs them.

// Operators inspect what sealed a stored object without any key.
export { type EnvelopeInfo, inspectEnvelope } from "../crypto/envelope.js";
// The source of importUnobinStack: a stack unobin's localstate or s3state wrote, and its encrypters.
export type { UnobinShape } from "../snapshot/unobin.js";
export {
  openUnobinStack,
  type UnobinEncrypter,
  type UnobinEnvKeyOptions,
  type UnobinRevision,
  type UnobinSealing,
  type UnobinStack,
  type UnobinStackOptions,
  type UnobinStoredAs,
  unobinEnvKeyEncrypter,
  unobinNoopEncrypter,
} from "../unobin/index.js";
export type { AdminOptions, AdminProgress, LockedAdminOptions } from "./common.js";
export type {
  ImportUnobinOptions,
  ImportUnobinPhase,
  ImportUnobinProgress,
  ImportUnobinReport,
} from "./import-unobin.js";
export { importUnobinStack } from "./import-unobin.js";
export type { MigrateOptions, MigratePhase, MigrateProgress, MigrateReport } from "./migrate.js";
export { migrateStack } from "./migrate.js";
export type {
  PruneDoneReport,
  PruneOptions,
  PrunePhase,
  PrunePlanReport,
  PruneProgress,
  PruneReport,
} from "./prune.js";
export { pruneStack } from "./prune.js";
export type { RekeyFailure, RekeyOptions, RekeyPhase, RekeyProgress, RekeyReport } from "./rekey.js";
export { rekeyStack } from "./rekey.js";
export type { ListStacksOptions, ListStacksPhase, ListStacksProgress, StackSummary } from "./stacks.js";
export { listStacks, type StacksCache, stacksCache } from "./stacks.js";
export type { VerifyOptions, VerifyPhase, VerifyProblem, VerifyProgress, VerifyReport } from "./verify.js";
export { verifyStack } from "./verify.js";
