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
};

/**
 * Maps an SDK error to a `StoreError` by S3 error code and HTTP status — never by message text,
 * which differs between stores and SDK versions. The message names the operation, bucket and
 * key, the S3 code and status; it never includes the SDK's message (a SignatureDoesNotMatch
 * answer echoes the string-to-sign) nor any credential. `cause` keeps the original error.
 */
export function mapS3Error(e: unknown, op: string, bucket: string, key?: string): StoreError {
  if (e instanceof StoreError) return e;
  const facts = s3ErrorFacts(e);
  const { reason, retryable } = reasonOf(facts);
  const where = key === undefined ? `bucket ${bucket}` : `${bucket}/${key}`;
  const what = facts.code === "NoSuchBucket" ? `bucket ${bucket} does not exist` : DESCRIPTION[reason];
  const codes = [facts.code && `S3 ${facts.code}`, facts.status && `HTTP ${facts.status}`]
    .filter(Boolean)
    .join(", ");
  return new StoreError(reason, `s3 ${op} ${where}: ${what}${codes ? ` (${codes})` : ""}`, {
    cause: e,
    retryable,
    ...(key === undefined ? {} : { key }),
    details: { status: facts.status, s3Code: facts.code, bucket },
  });
}
