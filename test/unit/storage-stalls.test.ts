import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StorageError } from '../../src/storage/errors.js';
import { agentFor, httpCall, UnsentRequestError } from '../../src/storage/http.js';
import { StorageAuth } from '../../src/storage/auth.js';
import { WebDavAdapter } from '../../src/storage/webdav.js';
import { startTlsServer } from '../fixtures/tls-server.js';

// A server that accepts TCP connections and never answers the TLS ClientHello: what XRootD 5.5.3 does now and
// then under load. A request there must fail after the handshake limit (and one resend on a fresh
// connection), not after its 60 s idle timeout.
describe('a TLS handshake that never finishes', () => {
  const sockets: net.Socket[] = [];
  let silent: net.Server;
  let port = 0;
  beforeAll(async () => {
    silent = net.createServer((s) => void sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    port = (silent.address() as net.AddressInfo).port;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => silent.close(r));
  });

  it('fails retryably after the limit, having tried a second connection', async () => {
    const started = Date.now();
    const err = await httpCall({
      method: 'HEAD',
      url: `https://127.0.0.1:${port}/a/file`,
      agent: agentFor({ ca: [] }),
      idleTimeoutMs: 60_000,
      handshakeTimeoutMs: 300,
    }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(err).toBeInstanceOf(UnsentRequestError);
    expect(err).toMatchObject({ kind: 'retryable', code: 'ETIMEDOUT' });
    expect((err as StorageError).message).toMatch(/TLS handshake not finished after 300 ms/);
    expect(sockets).toHaveLength(2);
  });
});

// A server that answers the ClientHello with a fatal `internal error` alert: what a MOVE met when XRootD 5.5.3
// crashed in libssl mid-handshake. One connection going wrong: retried, never a failed file.
describe('a TLS handshake answered with a fatal alert', () => {
  let server: net.Server;
  let port = 0;
  beforeAll(async () => {
    // A TLS record: alert (21), TLS 1.2 (3,3), length 2, level fatal (2), internal_error (80).
    server = net.createServer((s) => s.once('data', () => s.end(Buffer.from([21, 3, 3, 0, 2, 2, 80]))));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as net.AddressInfo).port;
  });
  afterAll(() => new Promise((r) => server.close(r)));

  it('fails retryably (EPROTO)', async () => {
    const err = await httpCall({
      method: 'MOVE',
      url: `https://127.0.0.1:${port}/a/.file.part`,
      agent: agentFor({ ca: [] }),
      idleTimeoutMs: 5_000,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect(err).toMatchObject({ kind: 'retryable', code: 'EPROTO' });
    expect((err as StorageError).message).toMatch(/alert internal error/);
  });
});

// A server that takes a request in and never answers it (XRootD 5.5.3 now and then, under load).
describe('a request taken in and never answered', () => {
  let srv: Awaited<ReturnType<typeof startTlsServer>>;
  const seen: string[] = [];
  beforeAll(async () => {
    srv = await startTlsServer((req) => void seen.push(`${req.method} ${req.url}`));
  });
  afterAll(() => srv.close());

  it('is sent once more on a fresh connection when asked, then fails retryably', async () => {
    const req = {
      url: `${srv.base.replace('davs://', 'https://')}/lost`,
      agent: agentFor({ ca: srv.ca }),
      idleTimeoutMs: 300,
    };
    const once = await httpCall({ ...req, method: 'HEAD' }).catch((e: unknown) => e);
    expect(once).toMatchObject({ kind: 'retryable', code: 'ETIMEDOUT' });
    expect(seen).toEqual(['HEAD /lost']);
    const twice = await httpCall({ ...req, method: 'HEAD', retryOnTimeout: true }).catch((e: unknown) => e);
    expect(twice).toMatchObject({ kind: 'retryable', code: 'ETIMEDOUT' });
    expect(seen).toEqual(['HEAD /lost', 'HEAD /lost', 'HEAD /lost']);
    // Not idempotent: never sent twice.
    await httpCall({ ...req, method: 'MOVE', retryOnTimeout: true }).catch(() => undefined);
    expect(seen.filter((s) => s.startsWith('MOVE'))).toHaveLength(1);
  });
});

// A digest: the first request is never answered, the second only after a while (a server that queues
// digests). The resend gets its own, longer wait.
describe('a request lost once, then answered slowly', () => {
  let srv: Awaited<ReturnType<typeof startTlsServer>>;
  let seen = 0;
  beforeAll(async () => {
    srv = await startTlsServer((_req, res) => {
      seen += 1;
      if (seen === 1) return; // taken in, never answered
      setTimeout(() => {
        res.writeHead(200, { 'Content-Length': '0', Digest: 'adler32=00000001' });
        res.end();
      }, 800);
    });
  });
  afterAll(() => srv.close());

  it('is answered on the resend, which waits its own longer timeout', async () => {
    const res = await httpCall({
      method: 'HEAD',
      url: `${srv.base.replace('davs://', 'https://')}/digest`,
      agent: agentFor({ ca: srv.ca }),
      idleTimeoutMs: 300,
      retryOnTimeout: true,
      resendTimeoutMs: 5_000,
    });
    expect(res.status).toBe(200);
    expect(res.headers.digest).toBe('adler32=00000001');
    expect(seen).toBe(2);
  });
});

describe('a handshake that finishes, then a slow answer', () => {
  let srv: Awaited<ReturnType<typeof startTlsServer>>;
  beforeAll(async () => {
    srv = await startTlsServer((_req, res) => {
      setTimeout(() => {
        res.writeHead(200, { 'Content-Length': '0' });
        res.end();
      }, 800);
    });
  });
  afterAll(() => srv.close());

  it('is not cut by the handshake limit', async () => {
    const res = await httpCall({
      method: 'HEAD',
      url: `${srv.base.replace('davs://', 'https://')}/slow`,
      agent: agentFor({ ca: srv.ca }),
      idleTimeoutMs: 10_000,
      handshakeTimeoutMs: 300,
    });
    expect(res.status).toBe(200);
  });
});

// XRootD 5.5.3 now and then leaves a HEAD on a kept-alive connection unanswered. The adapter's metadata
// calls wait 5 s for it, then send it again on a fresh connection (which waits the full 20 s): the look
// before a rename no longer holds a file 20 s.
describe('a metadata call lost on a kept-alive connection', () => {
  let srv: Awaited<ReturnType<typeof startTlsServer>>;
  const heads: Array<{ socket: unknown }> = [];
  beforeAll(async () => {
    srv = await startTlsServer((req, res) => {
      if (req.method === 'HEAD') {
        heads.push({ socket: req.socket });
        // The second HEAD (the first on the reused connection) is taken in and never answered.
        if (heads.length === 2) return;
      }
      res.writeHead(200, { 'Content-Length': '3' });
      res.end(req.method === 'HEAD' ? undefined : 'abc');
    });
  });
  afterAll(() => srv.close());

  it('is sent again on a fresh connection after 5 s, not 20', async () => {
    const a = new WebDavAdapter({ ca: srv.ca, auth: StorageAuth.none() });
    expect(await a.stat(`${srv.base}/f`)).toEqual({ bytes: 3 });
    const started = Date.now();
    expect(await a.stat(`${srv.base}/f`)).toEqual({ bytes: 3 });
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(4_900);
    expect(waited).toBeLessThan(15_000);
    expect(heads).toHaveLength(3);
    expect(heads[1]!.socket).toBe(heads[0]!.socket); // the lost one went out on the kept-alive connection
    expect(heads[2]!.socket).not.toBe(heads[1]!.socket);
  }, 30_000);
});
