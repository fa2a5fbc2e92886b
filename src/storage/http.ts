import type { ClientRequest, IncomingHttpHeaders, IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import tls from 'node:tls';
import { loadCa } from '../rucio/config.js';
import type { TlsIdentity } from './auth.js';
import { StorageError, toStorageError } from './errors.js';

/**
 * HTTPS through node:https rather than undici: XRootD 5.5 reads a lowercase `content-length` on PUT as an
 * empty body, and only node:https keeps the header case we set.
 */

export interface TlsOptions {
  /** PEM CA certificates to trust in addition to Node's defaults. Default: $X509_CERT_DIR (file or directory). */
  ca?: string | Buffer | Array<string | Buffer>;
}

const agents = new Map<string, https.Agent>();

/** One keep-alive agent per trust configuration and client identity (a renewed proxy gets a new one). */
export function agentFor(opts: TlsOptions = {}, identity?: TlsIdentity): https.Agent {
  const extra = opts.ca ?? loadCa(process.env.X509_CERT_DIR);
  const list = extra === undefined ? [] : Array.isArray(extra) ? extra : [extra];
  const key = `${list.map((c) => c.toString()).join('\n')}|${identity?.version ?? ''}`;
  let agent = agents.get(key);
  if (!agent) {
    // Giving `ca` replaces Node's roots: keep them so public CAs still work.
    const ca = list.length > 0 ? [...tls.rootCertificates, ...list] : undefined;
    // One TLS context for all connections: given `ca` instead, Node parses every CA certificate again for
    // each new connection (measured: a quarter of a worker's CPU, as XRootD closes a connection per 404).
    const secureContext = tls.createSecureContext({ ca, cert: identity?.cert, key: identity?.key });
    agent = new https.Agent({ keepAlive: true, maxSockets: 32, secureContext });
    agents.set(key, agent);
  }
  return agent;
}

export interface HttpRequest {
  method: string;
  /** A full https URL, path already percent-encoded. */
  url: string;
  headers?: Record<string, string>;
  agent: https.Agent;
  signal?: AbortSignal;
  /** Socket idle timeout: no byte either way for this long fails the request (retryable). */
  idleTimeoutMs?: number;
  /** A new connection's TLS handshake not done in this long: sent again on another one (default 10 s). */
  handshakeTimeoutMs?: number;
  /** httpCall: an idempotent request without an answer in `idleTimeoutMs` is sent once more, on a fresh connection. */
  retryOnTimeout?: boolean;
  /** httpCall: how long that resent request may wait (default `idleTimeoutMs`). */
  resendTimeoutMs?: number;
}

/**
 * A handshake takes milliseconds. One that is not done in this long (a server too busy to accept, or one that
 * has stopped serving that connection: XRootD 5.5.3 logged `SSL_shutdown: shutdown while in init` as such
 * connections went) is given up: the request never left, so it is sent on a fresh connection at once rather
 * than waiting out its idle timeout and then the activity's retry.
 */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
}

/**
 * A request that never reached the server, so even a PUT may be sent again, on a fresh socket: a reset on a
 * kept-alive socket before any answer (the server had closed it: XRootD 5.5 closes its end after an error
 * answer, e.g. a 404; Node's documented pattern for `request.reusedSocket`), or a TLS handshake that did not
 * finish in time (HANDSHAKE_TIMEOUT_MS).
 */
export class UnsentRequestError extends StorageError {
  constructor(from: StorageError) {
    super(from.message, 'retryable', from.code, from.status);
  }
}

/**
 * Start a request; `send` writes the body (or nothing) and must end it. Resolves with the response
 * as soon as its head arrives (the body is left to the caller: read it or `discard` it).
 */
export async function startRequest(req: HttpRequest, send?: (r: ClientRequest) => void): Promise<HttpResponse> {
  if (send) return startOnce(req, send); // a body: the caller re-opens its source to send it again
  try {
    return await startOnce(req, (r) => r.end());
  } catch (err) {
    if (!(err instanceof UnsentRequestError) || req.signal?.aborted) throw err;
    return startOnce(req, (r) => r.end());
  }
}

function startOnce(req: HttpRequest, send: (r: ClientRequest) => void): Promise<HttpResponse> {
  const what = `${req.method} ${req.url}`;
  return new Promise<HttpResponse>((resolve, reject) => {
    const r = https.request(req.url, { method: req.method, agent: req.agent, signal: req.signal });
    const handshakeMs = req.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS;
    let handshakeStuck = false;
    r.on('socket', (socket) => {
      keepRelayingDrain(r, socket);
      if (r.reusedSocket) return;
      const timer = setTimeout(() => {
        handshakeStuck = true;
        r.destroy(
          Object.assign(new Error(`TLS handshake not finished after ${handshakeMs} ms`), { code: 'ETIMEDOUT' }),
        );
      }, handshakeMs);
      const done = () => clearTimeout(timer);
      socket.once('secureConnect', done);
      socket.once('close', done);
    });
    for (const [k, v] of Object.entries(req.headers ?? {})) r.setHeader(k, v);
    if (req.idleTimeoutMs) {
      r.setTimeout(req.idleTimeoutMs, () =>
        r.destroy(Object.assign(new Error(`no answer for ${req.idleTimeoutMs} ms`), { code: 'ETIMEDOUT' })),
      );
    }
    let answered = false;
    r.on('response', (res) => {
      answered = true;
      // Consumers read with for-await (which sees errors); this only keeps a reset mid-body from
      // becoming an uncaught exception when a body is left unread.
      res.on('error', () => undefined);
      // After an error answer XRootD closes its end: never hand that socket to the next request.
      if ((res.statusCode ?? 0) >= 400) res.on('end', () => res.socket?.destroy());
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res });
    });
    r.on('error', (err) => {
      const e = toStorageError(err, what);
      const code = (err as NodeJS.ErrnoException).code;
      const reset = code === 'ECONNRESET' || code === 'EPIPE';
      reject((reset && !answered && r.reusedSocket) || handshakeStuck ? new UnsentRequestError(e) : e);
    });
    send(r);
  });
}

/**
 * Node 20's HTTP client stops relaying the socket's 'drain' to the request as soon as the RESPONSE is
 * complete (`socketOnData` in lib/_http_client.js removes its `ondrain` listener), even when the request
 * body is still being written. A server that answers before we are done writing (XRootD answers 200 the
 * moment it has Content-Length bytes; over TLS we may read that answer before our last write completes)
 * leaves a body pipeline waiting on backpressure for a 'drain' that never comes: `end()` is never called
 * and the PUT hangs until the no-progress guard retries it. So relay the socket's 'drain' ourselves until
 * the request has finished. Node's relay, while attached, runs first and clears `writableNeedDrain`, so a
 * request never gets 'drain' twice.
 */
function keepRelayingDrain(r: ClientRequest, socket: Socket): void {
  const relay = () => {
    if (r.writableNeedDrain) r.emit('drain');
  };
  const stop = () => socket.removeListener('drain', relay);
  socket.on('drain', relay);
  r.once('finish', stop);
  r.once('close', stop);
}

const IDEMPOTENT = new Set(['HEAD', 'GET', 'DELETE', 'MKCOL', 'PROPFIND', 'OPTIONS']);

/** Whether a request may be sent twice (httpCall resends these after a reset or, if asked, a timeout). */
export function isIdempotent(method: string): boolean {
  return IDEMPOTENT.has(method);
}

/**
 * A whole request with a small (or no) answer body. Idempotent requests are retried once on a reset:
 * servers (XRootD among them) close kept-alive connections at will, and a reused socket then hangs up;
 * and, with `retryOnTimeout`, once when no answer came in time.
 */
export async function httpCall(req: HttpRequest): Promise<HttpResponse & { text: string }> {
  let current = req;
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await startRequest(current);
      return { ...res, text: await readText(res.body, 64 * 1024) };
    } catch (err) {
      const code = err instanceof StorageError ? err.code : undefined;
      const timedOut = code === 'ETIMEDOUT' && req.retryOnTimeout;
      const again = code === 'ECONNRESET' || code === 'EPIPE' || timedOut;
      if (!again || attempt > 1 || !IDEMPOTENT.has(req.method) || req.signal?.aborted) throw err;
      if (timedOut && req.resendTimeoutMs) current = { ...req, idleTimeoutMs: req.resendTimeoutMs };
    }
  }
}

/** Read a body as text (up to `limit` characters kept). */
export async function readText(body: IncomingMessage, limit = Infinity): Promise<string> {
  let text = '';
  body.setEncoding('utf8');
  for await (const chunk of body) if (text.length < limit) text += chunk as string;
  return text;
}

export function discard(body: IncomingMessage): void {
  body.resume();
}
