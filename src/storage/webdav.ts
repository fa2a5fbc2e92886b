import type https from 'node:https';
import { Readable } from 'node:stream';
import pLimit, { type LimitFunction } from 'p-limit';
import { digestTimeoutFor } from './defaults.js';
import { parseDigestHeader } from './digest.js';
import { abortedError, httpStatusError, permanentError } from './errors.js';
import {
  agentFor,
  httpCall,
  isIdempotent,
  readText,
  UnsentRequestError,
  startRequest,
  type HttpResponse,
  type TlsOptions,
} from './http.js';
import { PerfMarkerParser, type TpcOutcome } from './perf-markers.js';
import { pumpWithChecksums, TransferGuard } from './pump.js';
import { DEFAULT_NO_PROGRESS_TIMEOUT_MS } from './progress.js';
import { StorageAuth } from './auth.js';
import { safeWrite } from './safe-write.js';
import { localFileSource } from './sources.js';
import type {
  Checksums,
  FullStorageAdapter,
  RemoteDigest,
  StatResult,
  UploadOptions,
  UploadResult,
  UploadSource,
  VerifyOptions,
  VerifyResult,
} from './types.js';
import { dirname, httpsUrl, parseStorageUrl, withPath } from './url.js';
import { verifyObject } from './verify.js';

/** The shortest no-progress timeout of a third-party copy: several performance-marker intervals. */
const TPC_MIN_NO_PROGRESS_MS = 20_000;

/**
 * Short metadata calls (HEAD, DELETE, MOVE, MKCOL): an answer comes in milliseconds. XRootD 5.5.3 under load
 * now and then takes a request in (its log shows the login) and never serves it: one without an answer in
 * this long is sent again on a fresh connection (idempotent ones; the others fail, retryably), where 60 s
 * then the activity's retry made the tail of a batch.
 */
const META_TIMEOUT_MS = 20_000;

/**
 * The first wait of an idempotent metadata call (HEAD, DELETE, MKCOL, PROPFIND), before it is sent again on a
 * fresh connection that waits META_TIMEOUT_MS. XRootD 5.5.3 also leaves a request on a kept-alive connection
 * unanswered: a HEAD on a reused socket waited the whole 20 s in 1 of 5 benchmark runs (2026-12-07), the
 * batch's last file for that long. Sending a lost HEAD again costs a request; a MOVE is never sent twice.
 */
const META_FIRST_TIMEOUT_MS = 5_000;

/**
 * Want-Digest HEADs in flight per endpoint (host:port), shared by all adapters of this process. A server
 * checksums a file before it answers and takes few such requests at once: XRootD (5.5.3, measured) takes
 * 3 × `xrootd.chksum max` (default max 4: 12); the next one is answered after "Bridge delaying request 30 sec",
 * and under a 32-way burst some got HTTP 500 after 60 s. `RUCIO_INGEST_DIGEST_CONCURRENCY` (a positive integer,
 * default 8, below a stock XRootD's 12) sets the limit. Each worker process has its own: keep
 * (processes × limit) within what the storage takes.
 */
export const DEFAULT_DIGEST_CONCURRENCY = 8;
const digestLimits = new Map<string, LimitFunction>();

export function digestConcurrency(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.RUCIO_INGEST_DIGEST_CONCURRENCY?.trim();
  if (!raw) return DEFAULT_DIGEST_CONCURRENCY;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    throw permanentError(
      'CONFIG',
      `RUCIO_INGEST_DIGEST_CONCURRENCY=${raw}: expected a positive integer (digest requests per storage endpoint).`,
    );
  }
  return n;
}

/** Run `fn` within the endpoint's digest limit; a caller aborted while it waits for a slot stops waiting. */
function withDigestSlot<T>(authority: string, what: string, signal: AbortSignal | undefined, fn: () => Promise<T>) {
  let limit = digestLimits.get(authority);
  if (!limit) digestLimits.set(authority, (limit = pLimit(digestConcurrency())));
  if (!signal) return limit(fn);
  if (signal.aborted) return Promise.reject(abortedError(what));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortedError(what));
    signal.addEventListener('abort', onAbort, { once: true });
    limit(() => (signal.aborted ? Promise.reject(abortedError(what)) : fn()))
      .then(resolve, reject)
      .finally(() => signal.removeEventListener('abort', onAbort));
  });
}

export type WebDavOptions = TlsOptions & {
  /** Credentials presented to the storage; default: found in the environment as grid tools find them. */
  auth?: StorageAuth;
};

/** davs:// and https:// (WebDAV, RFC 3230 digests, HTTP third-party copy). davs is https on the wire. */
export class WebDavAdapter implements FullStorageAdapter {
  readonly schemes = ['davs', 'https'] as const;
  readonly auth: StorageAuth;
  private readonly tls: TlsOptions;
  #agent?: { agent: https.Agent; version?: string };
  /** `Server:` header per host:port, for quirks (XRootD 5.5 takes a MOVE Destination literally). */
  private readonly servers = new Map<string, string>();

  constructor(opts: WebDavOptions = {}) {
    this.auth = opts.auth ?? StorageAuth.fromEnv();
    this.tls = { ca: opts.ca };
  }

  /** The connection pool, made at first use and again when the client certificate (a proxy) was renewed. */
  private get agent(): https.Agent {
    const identity = this.auth.tlsIdentity();
    if (!this.#agent || this.#agent.version !== identity?.version) {
      this.#agent = { agent: agentFor(this.tls, identity), version: identity?.version };
    }
    return this.#agent.agent;
  }

  async stat(url: string, signal?: AbortSignal): Promise<StatResult | undefined> {
    const res = await this.call('HEAD', url, {}, signal);
    if (res.status === 404) return undefined;
    if (res.status >= 300) throw httpStatusError(res.status, `HEAD ${url}`, res.text);
    return { bytes: Number(res.headers['content-length'] ?? 0) };
  }

  /**
   * Size and RFC 3230 digests. Servers answer an algorithm they do not support with another one
   * (XRootD: adler32), so the algorithm NAME of the answer decides what we got.
   */
  async digest(
    url: string,
    opts: { md5?: boolean; signal?: AbortSignal; bytes?: number } = {},
  ): Promise<RemoteDigest | undefined> {
    const head = await this.digestHead(url, 'adler32', opts.signal, opts.bytes);
    if (head.status === 404) return undefined;
    // XRootD without configured checksums refuses a HEAD that asks for one (405): no digest offered.
    if (head.status === 405 || head.status === 501) {
      const st = await this.stat(url, opts.signal);
      return st && { bytes: st.bytes };
    }
    if (head.status >= 300) throw httpStatusError(head.status, `HEAD ${url}`, head.text);
    const found: RemoteDigest = { bytes: Number(head.headers['content-length'] ?? 0) };
    const a = parseDigestHeader(head.headers.digest);
    if (a.adler32) found.adler32 = a.adler32;
    if (a.md5) found.md5 = a.md5;
    if (opts.md5 && !found.md5) {
      const m = await this.digestHead(url, 'md5', opts.signal, opts.bytes);
      const md5 = m.status < 300 ? parseDigestHeader(m.headers.digest).md5 : undefined;
      if (md5) found.md5 = md5;
    }
    return found;
  }

  /** A `Want-Digest` HEAD, within the endpoint's digest limit. */
  private digestHead(
    url: string,
    algorithm: string,
    signal?: AbortSignal,
    bytes?: number,
  ): Promise<HttpResponse & { text: string }> {
    const { authority } = parseStorageUrl(url);
    // The server checksums the whole file before answering: allow time for big files.
    return withDigestSlot(authority, `HEAD ${url}`, signal, () =>
      this.call('HEAD', url, { 'Want-Digest': algorithm }, signal, {
        ms: digestTimeoutFor(bytes, 5_000),
        resendMs: digestTimeoutFor(bytes),
      }),
    );
  }

  async verify(url: string, expected: Checksums, opts: VerifyOptions = {}): Promise<VerifyResult> {
    const found = await this.digest(url, { md5: !!expected.md5, signal: opts.signal, bytes: expected.bytes });
    return verifyObject(expected, found, () => this.read(url, opts.signal), opts);
  }

  async read(url: string, signal?: AbortSignal): Promise<NodeJS.ReadableStream> {
    const res = await startRequest({
      method: 'GET',
      url: httpsUrl(url),
      headers: this.auth.headers(),
      agent: this.agent,
      signal,
      idleTimeoutMs: META_TIMEOUT_MS,
    });
    if (res.status !== 200) {
      const text = await readText(res.body, 2000).catch(() => '');
      throw httpStatusError(res.status, `GET ${url}`, text);
    }
    return res.body;
  }

  async delete(url: string, signal?: AbortSignal): Promise<boolean> {
    const res = await this.call('DELETE', url, {}, signal);
    if (res.status === 404) return false;
    if (res.status >= 300) throw httpStatusError(res.status, `DELETE ${url}`, res.text);
    return true;
  }

  async upload(localPath: string, url: string, opts: UploadOptions = {}): Promise<UploadResult> {
    return this.uploadFrom(localFileSource(localPath, opts), url, opts);
  }

  uploadFrom(source: UploadSource, url: string, opts: UploadOptions = {}): Promise<UploadResult> {
    return safeWrite(this, url, (temp) => this.put(source, temp, opts), {
      signal: opts.signal,
      expected: opts.expected,
      sourceChecksums: () => source.checksums(),
      describe: source.describe,
      attempt: opts.attempt,
      verify: opts.verify,
      bytes: source.bytes,
    });
  }

  /** PUT a source, checksumming as it goes. Creates the parent directories when the server does not. */
  async put(source: UploadSource, url: string, opts: UploadOptions): Promise<Checksums> {
    const first = await this.putFresh(source, url, opts);
    if ('checksums' in first) return first.checksums;
    // 409 (or 404) on PUT: the parent directory is missing on servers that do not create it (dCache, Apache).
    if (first.status === 409 || first.status === 404) {
      await this.mkdirs(dirname(parseStorageUrl(url).path), url, opts.signal);
      const second = await this.putFresh(source, url, opts);
      if ('checksums' in second) return second.checksums;
      throw httpStatusError(second.status, `PUT ${url}`, second.text);
    }
    throw httpStatusError(first.status, `PUT ${url}`, first.text);
  }

  /** putOnce, sent again (source re-opened) when it went out on a kept-alive socket the server had closed. */
  private async putFresh(source: UploadSource, url: string, opts: UploadOptions): ReturnType<WebDavAdapter['putOnce']> {
    try {
      return await this.putOnce(source, url, opts);
    } catch (err) {
      if (!(err instanceof UnsentRequestError) || opts.signal?.aborted) throw err;
      return this.putOnce(source, url, opts);
    }
  }

  private async putOnce(
    source: UploadSource,
    url: string,
    opts: UploadOptions,
  ): Promise<{ checksums: Checksums } | { status: number; text: string }> {
    const guard = new TransferGuard(`PUT ${url}`, opts);
    try {
      const input = Readable.from(await source.open(guard.signal));
      let sent: Promise<Checksums> | undefined;
      const res = await startRequest(
        { method: 'PUT', url: httpsUrl(url), headers: this.auth.headers(), agent: this.agent, signal: guard.signal },
        (req) => {
          // Exact case matters to XRootD 5.5; a fixed length, never chunked (chunked PUTs fail there).
          req.setHeader('Content-Length', String(source.bytes));
          sent = pumpWithChecksums(input, req, guard, opts.md5, source.sent);
          sent.catch(() => undefined); // awaited below; the response may come first on errors
        },
      ).catch((err: unknown) => {
        throw guard.error(err);
      });
      this.remember(url, res);
      const text = await readText(res.body, 4000);
      if (res.status >= 300) {
        guard.controller.abort(); // stop sending the rest of a body the server refused
        return { status: res.status, text };
      }
      const checksums = await sent!;
      if (checksums.bytes !== source.bytes) {
        throw permanentError(
          'SOURCE_CHANGED',
          `${source.describe} gave ${checksums.bytes} B, expected ${source.bytes} B: it changed while being sent. ` +
            'Something still writes it: ingest it again once it is complete.',
        );
      }
      guard.tracker.done();
      return { checksums };
    } catch (err) {
      throw guard.error(err);
    } finally {
      guard.close();
    }
  }

  /** MKCOL each missing level (MKCOL is not recursive on dCache; 405 means it exists). */
  async mkdirs(rawDir: string, anyUrl: string, signal?: AbortSignal): Promise<void> {
    const dirUrl = withPath(anyUrl, rawDir);
    const res = await this.call('MKCOL', dirUrl, {}, signal);
    if (res.status < 300 || res.status === 405) return;
    if ((res.status === 409 || res.status === 404) && rawDir !== '/' && dirname(rawDir) !== rawDir) {
      await this.mkdirs(dirname(rawDir), anyUrl, signal);
      const again = await this.call('MKCOL', dirUrl, {}, signal);
      if (again.status < 300 || again.status === 405) return;
      throw httpStatusError(again.status, `MKCOL ${dirUrl}`, again.text);
    }
    throw httpStatusError(res.status, `MKCOL ${dirUrl}`, res.text);
  }

  async rename(fromUrl: string, toUrl: string, signal?: AbortSignal): Promise<void> {
    const res = await this.call(
      'MOVE',
      fromUrl,
      { Destination: this.destinationHeader(toUrl), Overwrite: 'F' },
      signal,
    );
    if (res.status === 412) {
      throw permanentError('EXISTS_DIFFERENT', `MOVE to ${toUrl}: the target appeared meanwhile; not overwriting it.`);
    }
    if (res.status >= 300) throw httpStatusError(res.status, `MOVE ${fromUrl} to ${toUrl}`, res.text);
    // Confirm: a server that misreads the Destination would put the file somewhere else.
    if (!(await this.stat(toUrl, signal))) {
      throw permanentError(
        'RENAME_FAILED',
        `MOVE ${fromUrl} to ${toUrl} answered ${res.status} but the target is absent.`,
      );
    }
  }

  /**
   * RFC 4918 wants a URI, i.e. percent-encoded; XRootD 5.5 takes the header literally (verified: `%20`
   * becomes part of the name), so it gets the raw path.
   */
  private destinationHeader(toUrl: string): string {
    const u = parseStorageUrl(toUrl);
    // Header values are latin1 on the wire: send the UTF-8 bytes of the name as such.
    const raw = Buffer.from(`https://${u.authority}${u.path}`, 'utf8').toString('latin1');
    if (/xrootd/i.test(this.servers.get(u.authority) ?? '')) return raw;
    return httpsUrl(u);
  }

  // ---- HTTP third-party copy ----

  /**
   * Pull: `COPY` on the destination with `Source:`; push: `COPY` on the source with `Destination:`.
   * Returns the outcome from the last line of the perf-marker stream; `refused` when the server does not
   * do TPC at all (then the caller streams).
   */
  async thirdPartyCopy(
    mode: 'pull' | 'push',
    srcUrl: string,
    dstUrl: string,
    opts: UploadOptions,
  ): Promise<TpcOutcome & { refused?: boolean }> {
    // Unlike PUT, XRootD does not create the parents of a COPY destination.
    await this.mkdirs(dirname(parseStorageUrl(dstUrl).path), dstUrl, opts.signal);
    // Progress only shows in performance markers, which servers send seconds apart (XRootD, dCache: ~5 s):
    // a shorter no-progress timeout would call every healthy copy stalled.
    const noProgressTimeoutMs = Math.max(
      opts.noProgressTimeoutMs ?? DEFAULT_NO_PROGRESS_TIMEOUT_MS,
      TPC_MIN_NO_PROGRESS_MS,
    );
    const guard = new TransferGuard(`COPY (${mode}) ${srcUrl} → ${dstUrl}`, { ...opts, noProgressTimeoutMs });
    // The active party authenticates to the other one with the token it is handed (no X.509 delegation).
    const headers: Record<string, string> = {
      ...this.auth.headers(true),
      ...(mode === 'pull'
        ? { Source: httpsUrl(srcUrl), Credential: 'none', 'X-Number-Of-Streams': '1' }
        : { Destination: httpsUrl(dstUrl), Credential: 'none' }),
    };
    try {
      const res = await startRequest({
        method: 'COPY',
        url: httpsUrl(mode === 'pull' ? dstUrl : srcUrl),
        headers,
        agent: this.agent,
        signal: guard.signal,
      });
      if (res.status === 405 || res.status === 501 || res.status === 400 || res.status === 403) {
        const text = await readText(res.body, 2000);
        return { ok: false, refused: true, message: `HTTP ${res.status} ${text.trim().slice(0, 200)}` };
      }
      if (res.status >= 300) {
        const text = await readText(res.body, 2000);
        throw httpStatusError(res.status, `COPY (${mode}) to ${dstUrl}`, text);
      }
      const parser = new PerfMarkerParser();
      res.body.setEncoding('utf8');
      // Markers keep coming while stalled; only growing byte counts count as progress.
      for await (const chunk of res.body) {
        parser.feed(chunk as string);
        guard.tracker.set(parser.bytes);
      }
      const outcome = parser.end();
      guard.tracker.done();
      return outcome;
    } catch (err) {
      throw guard.error(err);
    } finally {
      guard.close();
    }
  }

  // ---- plumbing ----

  private async call(
    method: string,
    url: string,
    headers: Record<string, string>,
    signal?: AbortSignal,
    /**
     * A digest's waits (computed before the answer), first and resent; a metadata call waits
     * META_FIRST_TIMEOUT_MS, then META_TIMEOUT_MS once sent again (a MOVE, not idempotent, is sent once and
     * waits META_TIMEOUT_MS).
     */
    timeouts?: { ms: number; resendMs: number },
  ): Promise<HttpResponse & { text: string }> {
    const res = await httpCall({
      method,
      url: httpsUrl(url),
      headers: { ...this.auth.headers(), ...headers },
      agent: this.agent,
      signal,
      idleTimeoutMs: timeouts?.ms ?? (isIdempotent(method) ? META_FIRST_TIMEOUT_MS : META_TIMEOUT_MS),
      retryOnTimeout: true,
      resendTimeoutMs: timeouts?.resendMs ?? META_TIMEOUT_MS,
    });
    this.remember(url, res);
    return res;
  }

  private remember(url: string, res: HttpResponse): void {
    const server = [res.headers.server ?? ''].flat().join(' ');
    if (server) this.servers.set(parseStorageUrl(url).authority, server);
  }
}
