export type { VerifyOptions, VerifyProblem, VerifyReport } from "./verify.js";
export { verifyStack } from "./verify.js";
