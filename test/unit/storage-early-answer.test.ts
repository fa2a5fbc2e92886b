import { adler32 } from 'hash-wasm';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StorageAuth } from '../../src/storage/auth.js';
import type { UploadSource } from '../../src/storage/types.js';
import { WebDavAdapter } from '../../src/storage/webdav.js';
import { startTlsServer } from '../fixtures/tls-server.js';

const MiB = 1024 * 1024;
const NO_PROGRESS_MS = 10_000;

/** An in-memory body of `mib` MiB, handed out in 1 MiB chunks (each above the socket's high-water mark). */
function memorySource(mib: number): { source: UploadSource; data: Buffer } {
  const data = Buffer.alloc(mib * MiB);
  for (let i = 0; i < data.length; i += 4096) data.writeUInt32BE(i, i);
  const source: UploadSource = {
    bytes: data.length,
    describe: `${mib} MiB in memory`,
    open: () =>
      Promise.resolve(Readable.from(Array.from({ length: mib }, (_, i) => data.subarray(i * MiB, (i + 1) * MiB)))),
    checksums: async () => ({ bytes: data.length, adler32: await adler32(data) }),
  };
  return { source, data };
}

// A TLS server that answers 200 (empty body) as soon as it has the request head, before reading the body,
// then reads the body to its end: what XRootD does when its answer overtakes our last write. Node 20's
// client stops relaying the socket's 'drain' to a request whose response is complete, so without the
// relay in src/storage/http.ts every one of these PUTs stalls until the no-progress guard fires.
describe('PUT answered before its body was read', () => {
  let srv: Awaited<ReturnType<typeof startTlsServer>>;
  const received: number[] = [];

  beforeAll(async () => {
    srv = await startTlsServer((req, res) => {
      let bytes = 0;
      res.writeHead(200, { 'Content-Length': '0' });
      res.end();
      req.on('data', (chunk: Buffer) => (bytes += chunk.length));
      req.on('end', () => received.push(bytes));
    });
    // Node's server would drop the idle connection after 5 s: keep it, so that a stalled PUT waits for the guard.
    srv.server.keepAliveTimeout = 4 * NO_PROGRESS_MS;
  });
  afterAll(() => srv.close());

  it(
    'completes at once, every time, on fresh and kept-alive connections',
    async () => {
      const dav = new WebDavAdapter({ ca: srv.ca, auth: StorageAuth.none() });
      const { source, data } = memorySource(8);
      for (let i = 0; i < 4; i++) {
        const started = Date.now();
        const sums = await dav.put(source, `${srv.base}/early/${i}.bin`, { noProgressTimeoutMs: NO_PROGRESS_MS });
        expect(Date.now() - started).toBeLessThan(NO_PROGRESS_MS / 4);
        expect(sums).toMatchObject({ bytes: data.length, adler32: await adler32(data) });
      }
      await expect.poll(() => received).toEqual([data.length, data.length, data.length, data.length]);
    },
    4 * NO_PROGRESS_MS + 10_000,
  );
});
