import fs from 'node:fs';
import { findBearerToken, findX509Files, type X509Files } from '../shared/grid-credentials.js';
import { permanentError } from './errors.js';

/** A client certificate chain and key for TLS; `version` changes when the files do (a renewed proxy). */
export interface TlsIdentity {
  cert: Buffer;
  key: Buffer;
  version: string;
}

/** Files are looked at again at most this often: proxies and tokens are renewed in place by agents. */
const RECHECK_MS = 30_000;

/**
 * What the storage adapters present to grid storage: an X.509 proxy (or certificate and key) on the TLS
 * connection, and a WLCG bearer token in `Authorization`. Found as grid tools find them (X509_USER_PROXY,
 * /tmp/x509up_u<uid>, X509_USER_CERT/KEY; BEARER_TOKEN, BEARER_TOKEN_FILE, bt_u<uid>), and re-read when
 * renewed. Never logged: `describe()` names the sources only.
 */
export class StorageAuth {
  #identity?: TlsIdentity;
  #identityCheckedAt = 0;
  #token?: string;
  #tokenCheckedAt = 0;
  #tokenMtime = 0;

  // ES private fields: util.inspect and JSON of an adapter never show a token.
  readonly #x509?: X509Files;
  readonly #bearer: { token?: string; file?: string };
  readonly #recheckMs: number;

  constructor(x509?: X509Files, bearer: { token?: string; file?: string } = {}, recheckMs = RECHECK_MS) {
    this.#x509 = x509;
    this.#bearer = bearer;
    this.#recheckMs = recheckMs;
  }

  static fromEnv(env: NodeJS.ProcessEnv = process.env): StorageAuth {
    return new StorageAuth(findX509Files(env), findBearerToken(env));
  }

  static none(): StorageAuth {
    return new StorageAuth();
  }

  /** Where the credentials come from (safe to print). */
  describe(): string {
    const parts: string[] = [];
    if (this.#x509)
      parts.push(this.#x509.cert === this.#x509.key ? `x509 proxy ${this.#x509.cert}` : `x509 ${this.#x509.cert}`);
    if (this.#bearer.token) parts.push('bearer token ($BEARER_TOKEN)');
    else if (this.#bearer.file) parts.push(`bearer token ${this.#bearer.file}`);
    return parts.length > 0 ? parts.join(', ') : 'anonymous';
  }

  tlsIdentity(): TlsIdentity | undefined {
    if (!this.#x509) return undefined;
    const now = Date.now();
    if (this.#identity && now - this.#identityCheckedAt < this.#recheckMs) return this.#identity;
    this.#identityCheckedAt = now;
    const { cert, key } = this.#x509;
    try {
      const version = [cert, key].map((f) => `${f}@${fs.statSync(f).mtimeMs}`).join('|');
      if (this.#identity?.version !== version) {
        this.#identity = { cert: fs.readFileSync(cert), key: fs.readFileSync(key), version };
      }
    } catch (err) {
      throw permanentError(
        'CREDENTIALS',
        `cannot read the X.509 credential ${cert}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}. ` +
          'Renew the proxy (voms-proxy-init) or fix X509_USER_PROXY / X509_USER_CERT and X509_USER_KEY.',
      );
    }
    return this.#identity;
  }

  /** The bearer token, if any (re-read from its file when that changes). */
  token(): string | undefined {
    if (this.#bearer.token) return this.#bearer.token;
    const file = this.#bearer.file;
    if (!file) return undefined;
    const now = Date.now();
    if (now - this.#tokenCheckedAt < this.#recheckMs && this.#token !== undefined) return this.#token;
    this.#tokenCheckedAt = now;
    try {
      const mtime = fs.statSync(file).mtimeMs;
      if (mtime !== this.#tokenMtime || this.#token === undefined) {
        this.#token = fs.readFileSync(file, 'utf8').trim();
        this.#tokenMtime = mtime;
      }
    } catch (err) {
      throw permanentError(
        'CREDENTIALS',
        `cannot read the bearer token file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}. ` +
          'Refresh the token (e.g. oidc-token, htgettoken) or fix BEARER_TOKEN_FILE.',
      );
    }
    return this.#token || undefined;
  }

  /** `Authorization` for this server, and for a third-party copy the header the active party forwards. */
  headers(forTpc = false): Record<string, string> {
    const t = this.token();
    if (!t) return {};
    return forTpc
      ? { Authorization: `Bearer ${t}`, TransferHeaderAuthorization: `Bearer ${t}` }
      : { Authorization: `Bearer ${t}` };
  }

  toJSON(): string {
    return this.describe();
  }
}
