/**
 * Rucio errors, classified so callers (and Temporal retry policies) know what to do:
 * - `retryable`: the server or network is unwell right now; the same call may succeed later.
 * - `already-done`: the object exists; the caller checks it matches and treats that as success.
 * - `permanent`: retrying cannot help; a human must change the input, config or permissions.
 */
export type RucioErrorKind = 'retryable' | 'already-done' | 'permanent';

const ALREADY_DONE = new Set([
  'Duplicate',
  'DataIdentifierAlreadyExists',
  'DuplicateRule',
  'FileAlreadyExists',
  'DuplicateContent',
  'RSEAlreadyExists',
  'AccountAlreadyExists',
  'ScopeAlreadyExists',
]);

const RETRYABLE = new Set([
  'DatabaseException',
  'ReplicationRuleCreationTemporaryFailed',
  'ServiceUnavailable',
  'ResourceTemporaryUnavailable',
  'RucioException', // Rucio's generic "an unknown exception occurred" (HTTP 500)
]);

/** Rucio errors that no retry can fix, whatever HTTP status they come with (some come as 500). */
const PERMANENT = new Set([
  'AccessDenied',
  'CannotAuthenticate',
  'InvalidObject',
  'InvalidRSEExpression',
  'InvalidReplicationRule',
  'InvalidValueForKey',
  'InvalidMetadata',
  'InvalidType',
  'InvalidPath',
  'InputValidationError',
  'InsufficientAccountLimit',
  'InsufficientTargetRSEs',
  'RSEWriteBlocked',
  'RSENotFound',
  'RSEProtocolNotSupported',
  'AccountNotFound',
  'ScopeNotFound',
  'DataIdentifierNotFound',
  'RuleNotFound',
  'UnsupportedOperation',
  'UnsupportedValueType',
  'KeyNotFound',
  'ReplicaNotFound',
  'ReplicaIsLocked',
  'FileConsistencyMismatch',
  'ChecksumMismatch',
  'DataIdentifierTypeMismatch',
  'InvalidRequest',
  'UnsupportedRequestedContentType',
  'UnsupportedStatus',
  'RSEOperationNotSupported',
  'RSEProtocolDomainNotSupported',
  'MissingClientParameter',
  'TokenExpired',
  'RuleReplaceFailed',
  'ScopeAccessDenied',
  'DuplicateCriteriaInDIDFilter',
  'InvalidRuleWeight',
  'StagingAreaRuleRequiresLifetime',
  'ManualRuleApprovalBlocked',
  'InvalidPolicyPackageAlgorithmType',
  'UnsupportedKeyType',
  'DIDFilterSyntaxError',
]);

const RETRYABLE_STATUS = new Set([500, 502, 503, 504]);

export class RucioError extends Error {
  override readonly name: string = 'RucioError';
  constructor(
    message: string,
    readonly kind: RucioErrorKind,
    /** Rucio's `ExceptionClass`, or a transport code such as `ECONNREFUSED`. */
    readonly exceptionClass: string,
    readonly status?: number,
  ) {
    super(message);
  }
  get retryable(): boolean {
    return this.kind === 'retryable';
  }
  get alreadyDone(): boolean {
    return this.kind === 'already-done';
  }
}

/** A credential was refused. Never retried: a wrong password stays wrong. */
export class RucioAuthError extends RucioError {
  override readonly name = 'RucioAuthError';
}

/** Classify a Rucio HTTP error answer from its `ExceptionClass` first, its status second. */
export function classify(status: number, exceptionClass: string | undefined): RucioErrorKind {
  if (exceptionClass && ALREADY_DONE.has(exceptionClass)) return 'already-done';
  if (exceptionClass && RETRYABLE.has(exceptionClass)) return 'retryable';
  if (exceptionClass && PERMANENT.has(exceptionClass)) return 'permanent';
  // A proxy or a crashed worker answers 5xx without a Rucio ExceptionClass: worth retrying.
  if (RETRYABLE_STATUS.has(status) || status === 429 || status === 408) return 'retryable';
  return 'permanent';
}

/** Node/undici transport failures that mean "try again": the server was down, restarting or slow. */
const RETRYABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

export function transportError(err: unknown, what: string): RucioError {
  const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const code = e?.code ?? e?.cause?.code ?? 'UNKNOWN';
  const kind: RucioErrorKind = RETRYABLE_CODES.has(code) ? 'retryable' : 'permanent';
  const hint = code === 'ECONNREFUSED' ? ' (is the Rucio server running and is rucio_host right?)' : '';
  return new RucioError(`${what}: ${code} ${e?.message ?? String(err)}${hint}`, kind, code);
}
