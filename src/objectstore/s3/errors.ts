import { StoreError, type StoreErrorReason } from "../types.js";

/** The parts of an AWS SDK v3 error this mapping reads — recognised by shape, not by class. */
interface SdkErrorShape {
  name?: unknown;
  Code?: unknown;
  code?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

const NOT_FOUND = new Set(["NoSuchKey", "NotFound", "NoSuchVersion"]);
const AUTH = new Set([
  "AccessDenied",
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
  "ExpiredToken",
  "ExpiredTokenException",
  "InvalidToken",
  "TokenRefreshRequired",
  "CredentialsProviderError",
]);
const THROTTLED = new Set([
  "SlowDown",
  "Throttling",
  "ThrottlingException",
  "TooManyRequests",
  "TooManyRequestsException",
  "RequestLimitExceeded",
  "RequestThrottled",
  "RequestThrottledException",
]);
/** Node and SDK errors raised before or while a response was read: the request may have landed. */
const NETWORK = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ERR_STREAM_PREMATURE_CLOSE",
  "TimeoutError",
  "RequestTimeout",
  "RequestTimeoutException",
]);

export interface S3ErrorFacts {
  status: number | undefined;
  code: string | undefined;
}

/** The HTTP status and S3 error code of an SDK error, when it carries them. */
export function s3ErrorFacts(e: unknown): S3ErrorFacts {
  if (typeof e !== "object" || e === null) return { status: undefined, code: undefined };
  const err = e as SdkErrorShape;
  const status = err.$metadata?.httpStatusCode;
  const code = [err.Code, err.name, err.code].find(
    (c): c is string => typeof c === "string" && c !== "Error",
  );
  return { status: typeof status === "number" ? status : undefined, code };
}

function reasonOf({ status, code }: S3ErrorFacts): { reason: StoreErrorReason; retryable: boolean } {
  if (code === "NoSuchBucket") return { reason: "NOT_FOUND", retryable: false };
  if ((code !== undefined && NOT_FOUND.has(code)) || status === 404)
    return { reason: "NOT_FOUND", retryable: false };
  if (code === "PreconditionFailed" || status === 412)
    return { reason: "PRECONDITION_FAILED", retryable: false };
  if (code === "ConditionalRequestConflict" || status === 409)
    return { reason: "CONFLICT", retryable: false };
  if ((code !== undefined && AUTH.has(code)) || status === 401 || status === 403)
    return { reason: "AUTH_FAILED", retryable: false };
  if (
    (code !== undefined && THROTTLED.has(code)) ||
    status === 429 ||
    (status === 503 && code === "SlowDown")
  )
    return { reason: "RATE_LIMITED", retryable: true };
  if (code === "NotImplemented" || status === 501) return { reason: "UNSUPPORTED", retryable: false };
  if (status !== undefined && status >= 500) return { reason: "UNAVAILABLE", retryable: true };
  if (status === undefined && code !== undefined && NETWORK.has(code))
    return { reason: "UNAVAILABLE", retryable: true };
  // Anything else (a 400 the store refuses, a missing region…) will not get better by retrying.
  return { reason: "UNAVAILABLE", retryable: false };
}

const DESCRIPTION: Record<StoreErrorReason, string> = {
  NOT_FOUND: "not found",
  PRECONDITION_FAILED: "precondition failed",
  CONFLICT: "conflicting concurrent write (re-read, then decide)",
  AUTH_FAILED: "access denied or invalid credentials",
  RATE_LIMITED: "throttled by the store",
  UNSUPPORTED: "not implemented by this store",
  UNAVAILABLE: "store unavailable or request failed",
  INVALID_KEY: "invalid key",
  INVALID_ARGUMENT: "invalid request arguments",
  INVALID_CONFIG: "invalid store configuration",
};

const NO_CREDENTIALS =
  "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE " +
  "(a profile in ~/.aws/config or ~/.aws/credentials, e.g. after 'aws sso login'), or run where a " +
  "role provides them (EC2 instance profile, ECS task role, web identity token)";

/** What went wrong, for the person reading the message, and what to do where that is clear. */
function describe(
  { code }: S3ErrorFacts,
  reason: StoreErrorReason,
  retryable: boolean,
  bucket: string,
): string {
  if (code === "NoSuchBucket") return `bucket ${bucket} does not exist`;
  // The SDK's credential chain found nothing usable (thrown before any request is sent).
  if (code === "CredentialsProviderError") return NO_CREDENTIALS;
  if (reason === "UNAVAILABLE" && !retryable) return "request failed (not retryable)";
  return DESCRIPTION[reason];
}

/**
 * The codes a message may show. The store's answer: its S3 code and HTTP status. An error raised
 * in this process (network, SDK, credentials): its code or name only, as its message may carry
 * request details.
 */
function summary(e: unknown, { status, code }: S3ErrorFacts): string {
  if (status !== undefined) return [code && `S3 ${code}`, `HTTP ${status}`].filter(Boolean).join(", ");
  if (code !== undefined) return code;
  const name = (e as { name?: unknown } | null)?.name;
  return typeof name === "string" && name !== "" ? name : "unknown error";
}

/**
 * Maps an SDK error to a `StoreError` by S3 error code, error name and HTTP status — never by
 * message text, which differs between stores and SDK versions. The message names the operation,
 * bucket and key, what went wrong (what to do, where that is clear), and the S3 code and status
 * or the error's name; it never includes the SDK's message (a SignatureDoesNotMatch answer
 * echoes the string-to-sign) nor any credential. `cause` keeps the original error.
 */
export function mapS3Error(e: unknown, op: string, bucket: string, key?: string): StoreError {
  if (e instanceof StoreError) return e;
  const facts = s3ErrorFacts(e);
  const { reason, retryable } = reasonOf(facts);
  const where = key === undefined ? `bucket ${bucket}` : `${bucket}/${key}`;
  return new StoreError(
    reason,
    `s3 ${op} ${where}: ${describe(facts, reason, retryable, bucket)} (${summary(e, facts)})`,
    {
      cause: e,
      retryable,
      // Only a write can have been applied without our knowing.
      outcomeUnknown:
        (op === "put" || op === "delete") &&
        (reason === "CONFLICT" || (reason === "UNAVAILABLE" && retryable)),
      ...(key === undefined ? {} : { key }),
      details: { status: facts.status, s3Code: facts.code, bucket },
    },
  );
}
