/**
 * The AWS SDK's documented switch for its "versions published after January 2027 will require
 * Node 22" warning (https://github.com/aws/aws-sdk-js-v3/issues/7983). statekeeper supports
 * Node >= 20, so on Node 20 that notice is eight lines of noise on every `s3://` command and
 * every KMS-sealed read.
 */
const NODE_WARNING_SWITCH = "AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED";

/**
 * Runs `construct` (an SDK client constructor, where the SDK checks the switch) with the warning
 * switched off, unless the user has set the switch either way. The variable is removed again at
 * once, so the user's environment (and child processes) stay as they were; the SDK itself then
 * treats the warning as handled for the whole process.
 */
export function withoutNodeVersionWarning<T>(construct: () => T): T {
  if (process.env[NODE_WARNING_SWITCH] !== undefined) return construct();
  process.env[NODE_WARNING_SWITCH] = "true";
  try {
    return construct();
  } finally {
    delete process.env[NODE_WARNING_SWITCH];
  }
}
