import fs from 'node:fs';
import tls from 'node:tls';
import { inspect } from 'node:util';
import { Agent, interceptors, request, type Dispatcher } from 'undici';
import type { Logger } from 'pino';
import { z } from 'zod';
import { loadCa, loadRucioConfig, type AuthType, type RucioClientConfig } from './config.js';
import { classify, RucioAuthError, RucioError, transportError } from './errors.js';
import { ndjsonLines } from './ndjson.js';

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';
type Query = Record<string, string | number | boolean | undefined | Array<string | number>>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  /** Status codes that count as success (default: any 2xx). */
  ok?: number[];
}

/** One HTTP exchange with Rucio, as reported to `onRequest` (never carries a secret). */
export interface RucioRequestInfo {
  kind: 'api' | 'auth' | 'ping';
  method: Method;
  path: string;
  /** HTTP status, or undefined when the exchange failed at the transport level. */
  status?: number;
  ms: number;
  /** True for the second attempt of a call after a 401 and re-authentication. */
  retried: boolean;
}

export interface RucioClientStats {
  /** HTTP exchanges of every kind. */
  requests: number;
  /** API calls (not auth or ping). */
  apiCalls: number;
  /** Tokens obtained: userpass/x509 logins or bearer-token (re)reads. */
  authentications: number;
  /** Authentications caused by a 401 on a cached token. */
  reauthentications: number;
}

export interface RucioClientOptions {
  logger?: Logger;
  /** Per-request timeout for headers and body chunks. */
  timeoutMs?: number;
  /** Renew the token when it has less than this left. */
  renewBeforeMs?: number;
  /** Called after every HTTP exchange (metrics, tests counting REST calls). */
  onRequest?: (info: RucioRequestInfo) => void;
}

interface CachedToken {
  value: string;
  expiresAt: number;
}

/** What `tokenInfo()` reports: the server's view of the current token, never the token itself. */
export interface RucioTokenInfo {
  account: string;
  identity?: string;
  authType: AuthType;
  expiresAt: Date;
}

/** Paths pino blanks out in every line the client logs (the caller's logger keeps its own settings). */
export const rucioLogRedactPaths = [
  'password',
  'token',
  'authToken',
  '*.password',
  '*.token',
  '*.authToken',
  'headers["x-rucio-password"]',
  'headers["x-rucio-auth-token"]',
  'headers.authorization',
  'config.password',
  'config.token',
];

const REDACTED = '[redacted]';

/** Transport errors of a connection the server had already closed (nothing was processed). */
const staleConnectionCodes = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);

/**
 * A typed Rucio REST client: one connection pool, token handling (cached, renewed before expiry,
 * re-authenticated once on a 401), errors classified by `ExceptionClass`, NDJSON lists streamed.
 * Secrets (password, tokens) live in private fields: `config` holds them redacted, and neither
 * logs nor error messages ever carry them.
 */
export class RucioClient {
  /** The configuration, with password and token replaced by `[redacted]`. */
  readonly config: RucioClientConfig;
  readonly #password?: string;
  readonly #bearer?: string;
  readonly #dispatcher: Dispatcher;
  readonly #log?: Logger;
  readonly #renewBeforeMs: number;
  readonly #onRequest?: (info: RucioRequestInfo) => void;
  #token?: CachedToken;
  #authenticating?: Promise<CachedToken>;
  #stats: RucioClientStats = { requests: 0, apiCalls: 0, authentications: 0, reauthentications: 0 };

  constructor(config: RucioClientConfig, opts: RucioClientOptions = {}) {
    this.#password = config.password;
    this.#bearer = config.token;
    this.config = Object.freeze({
      ...config,
      password: config.password === undefined ? undefined : REDACTED,
      token: config.token === undefined ? undefined : REDACTED,
    });
    this.#log = opts.logger?.child(
      { component: 'rucio' },
      { redact: { paths: rucioLogRedactPaths, censor: REDACTED } },
    );
    this.#renewBeforeMs = opts.renewBeforeMs ?? 5 * 60_000;
    this.#onRequest = opts.onRequest;
    const timeout = opts.timeoutMs ?? 120_000;
    if (config.insecure) {
      this.#log?.warn(
        { rucioHost: config.rucioHost },
        'TLS certificate verification is OFF for Rucio (explicit opt-out): do not use this in production',
      );
    }
    this.#dispatcher = new Agent({
      connect: {
        // One TLS context for every connection: a grid CA directory holds hundreds of certificates, which
        // would otherwise be parsed again for each new connection (keep-alive here is short).
        secureContext: tls.createSecureContext({ ca: loadCa(config.caCert), ...clientCertificate(config) }),
        rejectUnauthorized: !config.insecure,
      },
      headersTimeout: timeout,
      bodyTimeout: timeout,
      connections: 64,
      // Below the idle timeouts of the servers in front of Rucio (Apache 5 s, gunicorn 2 s by default).
      keepAliveTimeout: 1_500,
      // e.g. /accounts/whoami answers 303 to /accounts/<name>
    }).compose(interceptors.redirect({ maxRedirections: 3 }));
  }

  /** A client from the user's normal Rucio configuration (rucio.cfg + RUCIO_* environment). */
  static fromEnvironment(opts?: RucioClientOptions, env: NodeJS.ProcessEnv = process.env): RucioClient {
    return new RucioClient(loadRucioConfig(env), opts);
  }

  async close(): Promise<void> {
    await this.#dispatcher.close();
  }

  /** When the current token expires (ms since epoch), if one is held. */
  get tokenExpiresAt(): number | undefined {
    return this.#token?.expiresAt;
  }

  /** Counters of HTTP exchanges and authentications since the client was made (or `resetStats`). */
  get stats(): RucioClientStats {
    return { ...this.#stats };
  }

  resetStats(): void {
    this.#stats = { requests: 0, apiCalls: 0, authentications: 0, reauthentications: 0 };
  }

  /** Forget the cached token, forcing authentication on the next call. */
  dropToken(): void {
    this.#token = undefined;
  }

  /**
   * Replace the cached token, e.g. with one obtained elsewhere, or (tests) with a revoked or corrupted
   * one to exercise the re-authentication on 401.
   */
  setToken(value: string, expiresAt = Date.now() + 3600_000): void {
    this.#token = { value, expiresAt };
  }

  /** Never print secrets by accident: `console.log(client)` / `JSON.stringify(client)` show the redacted config. */
  toJSON(): { config: RucioClientConfig } {
    return { config: this.config };
  }

  [inspect.custom](): string {
    return `RucioClient ${inspect({ config: this.config, tokenExpiresAt: this.tokenExpiresAt })}`;
  }

  /** The server's version; needs no authentication. */
  async ping(): Promise<{ version: string }> {
    const started = Date.now();
    let res: Dispatcher.ResponseData;
    try {
      res = await request(buildUrl(this.config.rucioHost, '/ping'), { dispatcher: this.#dispatcher });
    } catch (err) {
      this.#report({ kind: 'ping', method: 'GET', path: '/ping', ms: Date.now() - started, retried: false });
      throw transportError(err, `ping ${this.config.rucioHost}`);
    }
    this.#report({
      kind: 'ping',
      method: 'GET',
      path: '/ping',
      status: res.statusCode,
      ms: Date.now() - started,
      retried: false,
    });
    if (res.statusCode !== 200) throw await this.#errorFrom(res, 'GET /ping');
    return parse(z.object({ version: z.string() }), await jsonBody(res, 'GET /ping'), 'GET /ping');
  }

  /** Send a request and parse its JSON answer with `schema`. */
  async json<S extends z.ZodType>(
    method: Method,
    path: string,
    schema: S,
    opts: RequestOptions = {},
  ): Promise<z.infer<S>> {
    const res = await this.#call(method, path, opts);
    return parse(schema, await jsonBody(res, `${method} ${path}`), `${method} ${path}`);
  }

  /** Send a request whose answer has no useful body (201 Created, 200 OK...). */
  async send(method: Method, path: string, opts: RequestOptions = {}): Promise<void> {
    const res = await this.#call(method, path, opts);
    await res.body.dump();
  }

  /** Send a request and return its answer as text (endpoints answering text/octet-stream). */
  async text(method: Method, path: string, opts: RequestOptions & { accept?: string } = {}): Promise<string> {
    const res = await this.#call(method, path, opts, opts.accept ? { Accept: opts.accept } : {});
    return res.body.text();
  }

  /** Stream an NDJSON list, parsing each line with `schema`. */
  async *ndjson<S extends z.ZodType>(
    path: string,
    schema: S,
    opts: RequestOptions & { method?: Method } = {},
  ): AsyncGenerator<z.infer<S>> {
    const method = opts.method ?? 'GET';
    const what = `${method} ${path}`;
    const res = await this.#call(method, path, opts, { Accept: 'application/x-json-stream' });
    try {
      for await (const line of ndjsonLines(res.body)) {
        let value: unknown;
        try {
          value = JSON.parse(line);
        } catch {
          throw new RucioError(`${what}: a line of the list is not JSON`, 'retryable', 'InvalidResponse');
        }
        yield parse(schema, value, what);
      }
    } catch (err) {
      if (err instanceof RucioError) throw err;
      throw transportError(err, what);
    } finally {
      // A consumer that stops early must not leave the connection half-read.
      if (!res.body.destroyed) res.body.destroy();
    }
  }

  /** A valid token, authenticating when none is cached or it is about to expire. Not for logging. */
  async authToken(): Promise<string> {
    return (await this.#validToken()).value;
  }

  /**
   * Ask the server about the current token (`GET /auth/validate`): account, identity, expiry.
   * Authenticates first if needed. Returns no secret.
   */
  async tokenInfo(): Promise<RucioTokenInfo> {
    const text = await this.text('GET', '/auth/validate', { accept: 'application/octet-stream' });
    const info = parseValidateAnswer(text);
    return {
      account: info.account ?? this.config.account,
      identity: info.identity,
      authType: this.config.authType,
      expiresAt: new Date(info.expiresAt ?? this.tokenExpiresAt ?? Date.now()),
    };
  }

  async #validToken(): Promise<CachedToken> {
    if (this.#token && this.#token.expiresAt - Date.now() > this.#renewBeforeMs) return this.#token;
    this.#authenticating ??= this.#authenticate().finally(() => {
      this.#authenticating = undefined;
    });
    this.#token = await this.#authenticating;
    return this.#token;
  }

  async #call(method: Method, path: string, opts: RequestOptions, extra: Record<string, string> = {}) {
    const what = `${method} ${path}`;
    const first = await this.#attempt(method, path, opts, extra, false);
    if (first.res.statusCode !== 401 || !isTokenRefusal(first.res)) return this.#check(first.res, what, opts);
    // The token expired or was revoked server-side: authenticate again, once (a bearer token file
    // may have been refreshed by its agent meanwhile).
    await first.res.body.dump();
    this.#log?.info({ method, path }, 'rucio token refused, re-authenticating');
    // Concurrent calls refused with the same token share one re-authentication.
    if (this.#token?.value === first.token) {
      this.#token = undefined;
      this.#stats.reauthentications++;
    }
    const second = await this.#attempt(method, path, opts, extra, true);
    if (second.res.statusCode === 401 && isTokenRefusal(second.res)) {
      const err = await this.#errorFrom(second.res, what);
      throw new RucioAuthError(
        `${err.message}. A freshly obtained token (auth_type ${this.config.authType}) was refused too: ${authHint(this.config)}`,
        'permanent',
        err.exceptionClass,
        err.status,
      );
    }
    return this.#check(second.res, what, opts);
  }

  async #attempt(method: Method, path: string, opts: RequestOptions, extra: Record<string, string>, retried: boolean) {
    const token = (await this.#validToken()).value;
    const url = buildUrl(this.config.rucioHost, path, opts.query);
    const headers: Record<string, string> = { 'X-Rucio-Auth-Token': token, Accept: 'application/json', ...extra };
    if (this.config.vo) headers['X-Rucio-VO'] = this.config.vo;
    let body: string | undefined;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['Content-Type'] = 'application/json';
    }
    const started = Date.now();
    let res: Dispatcher.ResponseData;
    for (let send = 1; ; send++) {
      try {
        res = await request(url, { method, headers, body, dispatcher: this.#dispatcher });
        break;
      } catch (err) {
        this.#report({ kind: 'api', method, path, ms: Date.now() - started, retried });
        const e = transportError(err, `${method} ${path}`);
        // A kept-alive connection the server closed as we reused it (gunicorn and Apache close idle ones
        // after a few seconds): the request did not get through, send it once more on a new connection.
        // Repeating even a POST is safe here: every write the lifecycle makes is idempotent.
        if (send === 1 && staleConnectionCodes.has(e.exceptionClass ?? '')) continue;
        throw this.#scrub(e);
      }
    }
    const ms = Date.now() - started;
    this.#log?.debug({ method, path, status: res.statusCode, ms, retried }, 'rucio call');
    this.#report({ kind: 'api', method, path, status: res.statusCode, ms, retried });
    return { res, token };
  }

  #report(info: RucioRequestInfo): void {
    this.#stats.requests++;
    if (info.kind === 'api') this.#stats.apiCalls++;
    try {
      this.#onRequest?.(info);
    } catch (err) {
      this.#log?.warn({ err: (err as Error).message }, 'rucio onRequest hook failed');
    }
  }

  async #check(res: Dispatcher.ResponseData, what: string, opts: RequestOptions) {
    const okStatus = opts.ok ? opts.ok.includes(res.statusCode) : res.statusCode >= 200 && res.statusCode < 300;
    if (okStatus) return res;
    throw await this.#errorFrom(res, what);
  }

  async #errorFrom(res: Dispatcher.ResponseData, what: string): Promise<RucioError> {
    return this.#scrub(await errorFrom(res, what));
  }

  /** Remove any secret the server might have echoed (or a transport error might carry) from a message. */
  #scrub<E extends Error>(err: E): E {
    for (const secret of [this.#password, this.#bearer, this.#token?.value]) {
      if (secret && secret.length >= 4 && err.message.includes(secret)) {
        err.message = err.message.split(secret).join(REDACTED);
      }
    }
    return err;
  }

  async #authenticate(): Promise<CachedToken> {
    const { authType } = this.config;
    const token = authType === 'oidc' || authType === 'token' ? await this.#bearerToken() : await this.#login(authType);
    this.#stats.authentications++;
    this.#log?.info(
      { authType, account: this.config.account, expiresAt: new Date(token.expiresAt).toISOString() },
      'rucio authenticated',
    );
    return token;
  }

  /** userpass / x509 / x509_proxy: ask the auth server for a Rucio token. */
  async #login(authType: AuthType): Promise<CachedToken> {
    const headers: Record<string, string> = { 'X-Rucio-Account': this.config.account };
    if (this.config.vo) headers['X-Rucio-VO'] = this.config.vo;
    let path: string;
    if (authType === 'userpass') {
      if (!this.config.username || !this.#password) {
        throw new RucioAuthError(
          `auth_type userpass needs username and password in [client] of ${this.config.source}`,
          'permanent',
          'MissingClientParameter',
        );
      }
      headers['X-Rucio-Username'] = this.config.username;
      headers['X-Rucio-Password'] = this.#password;
      path = '/auth/userpass';
    } else {
      path = authType === 'x509_proxy' ? '/auth/x509_proxy' : '/auth/x509';
    }
    const what = `authenticate (${authType}) as account ${this.config.account} at ${this.config.authHost}`;
    const url = buildUrl(this.config.authHost, path);
    const started = Date.now();
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, { method: 'GET', headers, dispatcher: this.#dispatcher });
    } catch (err) {
      this.#report({ kind: 'auth', method: 'GET', path, ms: Date.now() - started, retried: false });
      throw this.#scrub(transportError(err, what));
    }
    this.#report({
      kind: 'auth',
      method: 'GET',
      path,
      status: res.statusCode,
      ms: Date.now() - started,
      retried: false,
    });
    if (res.statusCode !== 200) {
      const err = await this.#errorFrom(res, what);
      if (err.retryable) throw err;
      throw new RucioAuthError(`${err.message}. ${authHint(this.config)}`, 'permanent', err.exceptionClass, err.status);
    }
    await res.body.dump();
    const value = header(res, 'x-rucio-auth-token');
    if (!value) throw new RucioError(`${what}: no token in the answer`, 'retryable', 'NoToken');
    const expires = Date.parse(header(res, 'x-rucio-auth-token-expires') ?? '');
    return { value, expiresAt: Number.isFinite(expires) ? expires : Date.now() + 3600_000 };
  }

  /** oidc / token: a bearer token from BEARER_TOKEN or a token file (re-read on every renewal). */
  async #bearerToken(): Promise<CachedToken> {
    let value = this.#bearer;
    if (!value && this.config.tokenFile) {
      try {
        value = fs.readFileSync(this.config.tokenFile, 'utf8').trim();
      } catch (err) {
        throw new RucioAuthError(
          `cannot read the bearer token file ${this.config.tokenFile}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`,
          'permanent',
          'MissingClientParameter',
        );
      }
    }
    if (!value) {
      throw new RucioAuthError(
        'auth_type oidc/token needs a bearer token: set BEARER_TOKEN or BEARER_TOKEN_FILE, or auth_token_file_path in [client]',
        'permanent',
        'MissingClientParameter',
      );
    }
    const exp = jwtExpiry(value);
    if (exp !== undefined && exp <= Date.now()) {
      throw new RucioAuthError(
        `the bearer token${this.config.tokenFile ? ` in ${this.config.tokenFile}` : ''} expired at ${new Date(exp).toISOString()}: ` +
          'refresh it (e.g. oidc-token / htgettoken) and retry',
        'permanent',
        'TokenExpired',
      );
    }
    // An opaque token (e.g. a Rucio token) has no readable expiry: assume a short life; a 401 re-reads it.
    return { value, expiresAt: exp ?? Date.now() + this.#renewBeforeMs + 600_000 };
  }
}

function clientCertificate(config: RucioClientConfig): { cert?: Buffer; key?: Buffer } {
  if (config.authType !== 'x509' && config.authType !== 'x509_proxy') return {};
  const certFile = config.authType === 'x509_proxy' ? config.clientProxy : config.clientCert;
  const keyFile = config.authType === 'x509_proxy' ? config.clientProxy : (config.clientKey ?? config.clientCert);
  const setting = config.authType === 'x509_proxy' ? 'client_x509_proxy (or X509_USER_PROXY)' : 'client_cert';
  if (!certFile) {
    throw new RucioAuthError(
      `auth_type ${config.authType} needs ${setting} in [client] of ${config.source}`,
      'permanent',
      'MissingClientParameter',
    );
  }
  const read = (file: string, what: string) => {
    try {
      return fs.readFileSync(file);
    } catch (err) {
      throw new RucioAuthError(
        `cannot read the X.509 ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`,
        'permanent',
        'MissingClientParameter',
      );
    }
  };
  if (config.authType === 'x509' && keyFile) {
    // As the Python client: a private key readable by others is refused.
    const mode = fs.existsSync(keyFile) ? fs.statSync(keyFile).mode & 0o077 : 0;
    if (mode !== 0) {
      throw new RucioAuthError(
        `the X.509 private key ${keyFile} is readable by group or others: chmod 600 it`,
        'permanent',
        'CannotAuthenticate',
      );
    }
  }
  return { cert: read(certFile, 'certificate'), key: read(keyFile ?? certFile, 'key') };
}

function authHint(cfg: RucioClientConfig): string {
  switch (cfg.authType) {
    case 'userpass':
      return `Check username and password of [client] in ${cfg.source} and that identity ${cfg.username ?? '?'} maps to account ${cfg.account}.`;
    case 'x509':
    case 'x509_proxy':
      return `Check that the certificate's DN is an identity of account ${cfg.account} and not expired (proxy: voms-proxy-init).`;
    default:
      return `Refresh the bearer token (${cfg.tokenFile ?? 'BEARER_TOKEN'}) and check its audience/scope are accepted for account ${cfg.account}.`;
  }
}

/** A 401 caused by the token (not, say, AccessDenied which Rucio also sends as 401). */
function isTokenRefusal(res: Dispatcher.ResponseData): boolean {
  const cls = header(res, 'exceptionclass');
  return cls === undefined || cls === 'CannotAuthenticate';
}

/** The `exp` of a JWT, in ms since epoch; undefined for opaque tokens. */
export function jwtExpiry(jwt: string): number | undefined {
  const part = jwt.split('.')[1];
  if (!part) return undefined;
  try {
    const exp = (JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as { exp?: number }).exp;
    return typeof exp === 'number' ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `GET /auth/validate` answers a Python dict repr:
 * `{'account': 'ingest', 'identity': 'ingest', 'lifetime': datetime.datetime(2026, 11, 22, 14, 17, 41, 119793), ...}`.
 */
export function parseValidateAnswer(text: string): { account?: string; identity?: string; expiresAt?: number } {
  const str = (key: string) => new RegExp(`'${key}':\\s*(?:InternalAccount\\()?'([^']*)'`).exec(text)?.[1];
  const dt = /'lifetime':\s*datetime\.datetime\(([\d,\s]+)\)/.exec(text)?.[1];
  let expiresAt: number | undefined;
  if (dt) {
    const [y, mo, d, h = 0, mi = 0, s = 0, us = 0] = dt.split(',').map((n) => Number(n.trim()));
    expiresAt = Date.UTC(y!, mo! - 1, d!, h, mi, s, Math.floor(us / 1000));
  }
  return { account: str('account'), identity: str('identity'), expiresAt };
}

function header(res: Dispatcher.ResponseData, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export function buildUrl(base: string, path: string, query?: Query): string {
  const url = new URL(base.replace(/\/+$/, '') + path);
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const item of v) url.searchParams.append(k, String(item));
    else url.searchParams.set(k, String(v));
  }
  return url.toString();
}

async function jsonBody(res: Dispatcher.ResponseData, what: string): Promise<unknown> {
  const text = await res.body.text();
  if (text === '') return null;
  try {
    return JSON.parse(text);
  } catch {
    throw new RucioError(`${what}: the answer is not JSON: ${text.slice(0, 120)}`, 'retryable', 'InvalidResponse');
  }
}

/** Build a typed error from a Rucio error answer; never includes request headers (secrets). */
async function errorFrom(res: Dispatcher.ResponseData, what: string): Promise<RucioError> {
  const text = await res.body.text().catch(() => '');
  let exceptionClass: string | undefined;
  let message: string | undefined;
  try {
    // As the Python client: the body's ExceptionClass first, then the headers.
    const body = JSON.parse(text) as { ExceptionClass?: string; ExceptionMessage?: string };
    exceptionClass = body.ExceptionClass;
    message = body.ExceptionMessage;
  } catch {
    message = text.slice(0, 300);
  }
  exceptionClass ??= header(res, 'exceptionclass');
  message ||= header(res, 'exceptionmessage');
  const kind = classify(res.statusCode, exceptionClass);
  const Err = exceptionClass === 'CannotAuthenticate' ? RucioAuthError : RucioError;
  return new Err(
    `${what}: HTTP ${res.statusCode} ${exceptionClass ?? ''}${message ? `: ${message.trim()}` : ''}`.replace(
      / +/g,
      ' ',
    ),
    kind,
    exceptionClass ?? `HTTP${res.statusCode}`,
    res.statusCode,
  );
}

function parse<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
  const r = schema.safeParse(value);
  if (!r.success) {
    throw new RucioError(
      `${what}: unexpected answer from Rucio: ${z.prettifyError(r.error)}`,
      'permanent',
      'InvalidResponse',
    );
  }
  return r.data;
}
