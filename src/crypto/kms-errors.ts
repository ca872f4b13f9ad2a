/**
 * Maps AWS KMS failures to statekeeper codes by the error's `name` and HTTP status, never by
 * message text (https://docs.aws.amazon.com/kms/latest/APIReference/CommonErrors.html).
 */
import { type ErrorCode, StateKeeperError, truncateForMessage } from "../errors.js";

const BY_NAME: Readonly<Record<string, ErrorCode>> = {
  AccessDeniedException: "E_AUTH",
  UnrecognizedClientException: "E_AUTH",
  InvalidSignatureException: "E_AUTH",
  IncompleteSignature: "E_AUTH",
  ExpiredTokenException: "E_AUTH",
  MissingAuthenticationToken: "E_AUTH",
  CredentialsProviderError: "E_AUTH",
  ThrottlingException: "E_RATE_LIMITED",
  LimitExceededException: "E_RATE_LIMITED",
  RequestLimitExceeded: "E_RATE_LIMITED",
  InvalidCiphertextException: "E_DECRYPT",
  IncorrectKeyException: "E_DECRYPT",
  NotFoundException: "E_INVALID_CONFIG",
  InvalidArnException: "E_INVALID_CONFIG",
  DisabledException: "E_INVALID_CONFIG",
  KMSInvalidStateException: "E_INVALID_CONFIG",
  InvalidKeyUsageException: "E_INVALID_CONFIG",
  ValidationException: "E_INVALID_CONFIG",
  InvalidGrantTokenException: "E_INVALID_CONFIG",
  KeyUnavailableException: "E_UNAVAILABLE",
  DependencyTimeoutException: "E_UNAVAILABLE",
  KMSInternalException: "E_UNAVAILABLE",
  ServiceUnavailableException: "E_UNAVAILABLE",
  TimeoutError: "E_UNAVAILABLE",
};

function codeFor(name: string | undefined, status: number | undefined): ErrorCode {
  const byName = name === undefined ? undefined : BY_NAME[name];
  if (byName !== undefined) return byName;
  if (status === 401 || status === 403) return "E_AUTH";
  if (status === 429) return "E_RATE_LIMITED";
  // No status at all means the request never got an HTTP answer: refused, reset, DNS, timeout.
  if (status === undefined || status >= 500) return "E_UNAVAILABLE";
  return "E_INVALID_CONFIG";
}

const EXPLANATION: Readonly<Partial<Record<ErrorCode, string>>> = {
  E_AUTH: "access denied (check the credentials, IAM policy and key policy)",
  E_RATE_LIMITED: "request rate exceeded; retry later",
  E_DECRYPT: "KMS refused to unwrap the data key (wrong key, or the file was modified or moved)",
  E_INVALID_CONFIG: "the key cannot be used as configured (check keyId, region and key state)",
  E_UNAVAILABLE: "KMS is unreachable or failing; retry later",
};

/** `operation` is e.g. "GenerateDataKey"; `subject` names the key, e.g. "KMS key arn:…". */
export function mapKmsError(
  error: unknown,
  operation: string,
  subject: string,
  details: Record<string, unknown> = {},
): StateKeeperError {
  if (error instanceof StateKeeperError) return error;
  const e = (typeof error === "object" && error !== null ? error : {}) as {
    name?: unknown;
    $metadata?: { httpStatusCode?: unknown };
  };
  const name = typeof e.name === "string" && e.name !== "Error" ? e.name : undefined;
  const status = typeof e.$metadata?.httpStatusCode === "number" ? e.$metadata.httpStatusCode : undefined;
  const code = codeFor(name, status);
  const what = [name ?? "network error", status === undefined ? "" : `HTTP ${status}`]
    .filter(Boolean)
    .join(", ");
  return new StateKeeperError(
    code,
    `AWS KMS ${operation} failed for ${truncateForMessage(subject)}: ${EXPLANATION[code] ?? "unexpected error"} (${what})`,
    {
      cause: error,
      details: {
        ...details,
        operation,
        ...(name === undefined ? {} : { awsError: name }),
        ...(status === undefined ? {} : { status }),
      },
    },
  );
}
