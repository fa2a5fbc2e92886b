/**
 * Storage errors, classified so callers (and Temporal retry policies) know what to do:
 * - `retryable`: the storage or network is unwell right now; the same call may succeed later.
 * - `permanent`: retrying cannot help; a human must fix permissions, space, the input or the storage.
 * Shaped like RucioError (kind + code + message) so activities classify both the same way.
 */
export type StorageErrorKind = 'retryable' | 'permanent';

export class StorageError extends Error {
  override readonly name = 'StorageError';
  constructor(
    message: string,
    readonly kind: StorageErrorKind,
    /** e.g. HTTP_503, ECONNRESET, NO_PROGRESS, CHECKSUM_MISMATCH, EXISTS_DIFFERENT, NOT_FOUND, NO_SPACE, FORBIDDEN. */
    readonly code: string,
    readonly status?: number,
  ) {
    super(message);
  }
  get retryable(): boolean {
    return this.kind === 'retryable';
  }
}

export const permanentError = (code: string, message: string, status?: number) =>
  new StorageError(message, 'permanent', code, status);
export const retryableError = (code: string, message: string, status?: number) =>
  new StorageError(message, 'retryable', code, status);

/** An HTTP answer that is not a success, turned into an error that says what to do. */
export function httpStatusError(status: number, what: string, detail = ''): StorageError {
  const more = detail ? `: ${detail.trim().slice(0, 300)}` : '';
  if (status === 401 || status === 403) {
    return permanentError(
      'FORBIDDEN',
      `${what}: HTTP ${status}${more}. The storage refused our credentials: check that a valid X.509 proxy ` +
        '(X509_USER_PROXY, /tmp/x509up_u<uid>) or bearer token (BEARER_TOKEN, BEARER_TOKEN_FILE) is available ' +
        "and the account's permissions on this path.",
      status,
    );
  }
  if (status === 404) {
    return permanentError('NOT_FOUND', `${what}: HTTP 404${more}. The object or its directory does not exist.`, status);
  }
  if (status === 507) {
    return permanentError(
      'NO_SPACE',
      `${what}: HTTP 507${more}. The storage is full: free space or pick another RSE.`,
      status,
    );
  }
  if (status >= 500 || status === 408 || status === 429) {
    return retryableError(
      `HTTP_${status}`,
      `${what}: HTTP ${status}${more}. The storage is unwell; retrying later.`,
      status,
    );
  }
  return permanentError(`HTTP_${status}`, `${what}: HTTP ${status}${more}.`, status);
}

/** Network failures that mean "try again": the server was down, restarting or slow. */
const RETRYABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EBUSY',
  'EAGAIN',
  'EIO',
]);

/** Classify an error thrown by node (errno codes) or a child process; StorageErrors pass through. */
export function toStorageError(err: unknown, what: string): StorageError {
  if (err instanceof StorageError) return err;
  const e = err as NodeJS.ErrnoException | undefined;
  const code = typeof e?.code === 'string' ? e.code : 'UNKNOWN';
  const msg = e?.message ?? String(err);
  // An aborted request (Temporal cancelled or timed out the attempt) says nothing about the data.
  if (code === 'ABORT_ERR' || e?.name === 'AbortError') return abortedError(what);
  if (code === 'ENOENT') return permanentError('NOT_FOUND', `${what}: ${msg}. The path does not exist.`);
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return permanentError('FORBIDDEN', `${what}: ${msg}. Check the permissions of this account on the path.`);
  }
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return permanentError('NO_SPACE', `${what}: ${msg}. The file system is full: free space or pick another RSE.`);
  }
  if (RETRYABLE_CODES.has(code) || /socket hang up|ECONNRESET/i.test(msg)) {
    return retryableError(code === 'UNKNOWN' ? 'ECONNRESET' : code, `${what}: ${code} ${msg}. Retrying later.`);
  }
  // Certificate verification fails the same way every time: say what to fix.
  if (/CERT|UNABLE_TO_VERIFY|LEAF_SIGNATURE|ISSUER|SELF_SIGNED|HOSTNAME|ALTNAME/.test(code)) {
    return permanentError(
      'TLS',
      `${what}: ${code} ${msg}. Trust the storage's CA: set X509_CERT_DIR (grid CA directory) or pass { ca } to the adapter.`,
    );
  }
  // A TLS protocol alert (unexpected message, bad record MAC, wrong version number) or a connection closed
  // mid-body is one connection going wrong, often under load: measured once in 300 MOVEs to a busy XRootD.
  // OpenSSL errors raised on a socket read or write come as EPROTO: an `internal error` alert (80) reached a
  // MOVE when XRootD 5.5.3 crashed in libssl mid-handshake (its restart loop had it back a second later).
  if (/^ERR_(TLS|SSL)/.test(code) || code === 'EPROTO' || code === 'ERR_STREAM_PREMATURE_CLOSE') {
    return retryableError(code, `${what}: ${code} ${msg}. Retrying later on a new connection.`);
  }
  return permanentError(code, `${what}: ${msg}`);
}

export function abortedError(what: string): StorageError {
  // Retryable: an abort is Temporal cancelling or timing out an attempt, not a verdict on the data.
  return retryableError('ABORTED', `${what}: aborted`);
}

export function noProgressError(what: string, ms: number): StorageError {
  return retryableError(
    'NO_PROGRESS',
    `${what}: no byte moved for ${Math.round(ms / 1000)} s; the storage or network stalled. Retrying later.`,
  );
}
