import { afterEach, describe, expect, it } from 'vitest';
import { StorageAuth } from '../../src/storage/auth.js';
import { StorageError } from '../../src/storage/errors.js';
import { DEFAULT_DIGEST_CONCURRENCY, digestConcurrency, WebDavAdapter } from '../../src/storage/webdav.js';
import { startTlsServer } from '../fixtures/tls-server.js';

/** A TLS server that takes `holdMs` to answer each Want-Digest HEAD and counts how many it has at once. */
async function digestServer(holdMs: number) {
  const seen = { inFlight: 0, max: 0, total: 0 };
  const srv = await startTlsServer((req, res) => {
    if (req.method !== 'HEAD' || !req.headers['want-digest']) {
      res.writeHead(400).end();
      return;
    }
    seen.total++;
    seen.max = Math.max(seen.max, ++seen.inFlight);
    setTimeout(() => {
      seen.inFlight--;
      res.writeHead(200, { 'Content-Length': '42', Digest: 'adler32=0a0b0c0d' }).end();
    }, holdMs);
  });
  return { ...srv, seen };
}

const servers: Array<{ close: () => Promise<void> }> = [];
const saved = process.env.RUCIO_INGEST_DIGEST_CONCURRENCY;
afterEach(async () => {
  if (saved === undefined) delete process.env.RUCIO_INGEST_DIGEST_CONCURRENCY;
  else process.env.RUCIO_INGEST_DIGEST_CONCURRENCY = saved;
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function burst(n: number, holdMs = 100, adapters = 1) {
  const srv = await digestServer(holdMs);
  servers.push(srv);
  const davs = Array.from({ length: adapters }, () => new WebDavAdapter({ ca: srv.ca, auth: StorageAuth.none() }));
  const results = await Promise.all(
    Array.from({ length: n }, (_, i) => davs[i % adapters]!.digest(`${srv.base}/d/f${i}`)),
  );
  return { results, seen: srv.seen, srv, davs };
}

describe('Want-Digest concurrency per endpoint', () => {
  it('sends at most the default number of digest requests at once, and answers them all', async () => {
    delete process.env.RUCIO_INGEST_DIGEST_CONCURRENCY;
    const { results, seen } = await burst(3 * DEFAULT_DIGEST_CONCURRENCY);
    expect(results.every((r) => r?.adler32 === '0a0b0c0d' && r.bytes === 42)).toBe(true);
    expect(seen.total).toBe(3 * DEFAULT_DIGEST_CONCURRENCY);
    expect(seen.max).toBe(DEFAULT_DIGEST_CONCURRENCY);
  });

  it('takes the limit from RUCIO_INGEST_DIGEST_CONCURRENCY, shared by all adapters of the process', async () => {
    process.env.RUCIO_INGEST_DIGEST_CONCURRENCY = '3';
    const { seen } = await burst(20, 50, 4);
    expect(seen.total).toBe(20);
    expect(seen.max).toBe(3);
  });

  it('lets a caller aborted while waiting for a slot go at once', async () => {
    process.env.RUCIO_INGEST_DIGEST_CONCURRENCY = '1';
    const srv = await digestServer(1000);
    servers.push(srv);
    const dav = new WebDavAdapter({ ca: srv.ca, auth: StorageAuth.none() });
    const first = dav.digest(`${srv.base}/d/first`);
    const ac = new AbortController();
    const queued = dav.digest(`${srv.base}/d/queued`, { signal: ac.signal });
    const started = Date.now();
    setTimeout(() => ac.abort(), 50);
    await expect(queued).rejects.toMatchObject({ code: 'ABORTED', kind: 'retryable' });
    expect(Date.now() - started).toBeLessThan(500);
    await expect(first).resolves.toMatchObject({ adler32: '0a0b0c0d' });
    expect(srv.seen.total).toBe(1); // the aborted one never reached the server
  });

  it('refuses a limit that is not a positive integer', () => {
    expect(digestConcurrency({})).toBe(DEFAULT_DIGEST_CONCURRENCY);
    expect(digestConcurrency({ RUCIO_INGEST_DIGEST_CONCURRENCY: ' 16 ' })).toBe(16);
    for (const bad of ['0', '-2', '2.5', 'many']) {
      expect(() => digestConcurrency({ RUCIO_INGEST_DIGEST_CONCURRENCY: bad })).toThrow(StorageError);
    }
  });
});
