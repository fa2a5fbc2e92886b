import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import { adler32 } from 'hash-wasm';
import { describe, expect, it } from 'vitest';
import { layout, rses } from '../../src/sandbox/layout.js';
import { ensureCa } from '../../src/sandbox/xrootd.js';

/** A raw HTTPS call; node:https keeps the header case XRootD 5.5 needs (`Content-Length`). */
async function call(method: string, url: string, headers: Record<string, string> = {}, body?: Buffer) {
  const { caFile } = await ensureCa(layout());
  const ca = fs.readFileSync(caFile);
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>(
    (resolve, reject) => {
      const req = https.request(url, { method, ca, headers }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      });
      req.on('error', reject);
      if (body) req.setHeader('Content-Length', String(body.length));
      req.end(body);
    },
  );
}

describe('XRootD storage of the sandbox (davs)', () => {
  const rse = rses.find((r) => r.name === 'LANDING-1')!;
  const url = `https://127.0.0.1:${rse.httpsPort}/rucio/tests/${randomUUID()}.bin`;

  it('PUTs a file, reports its adler32 through Want-Digest, and DELETEs it', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const put = await call('PUT', url, {}, data);
    expect(put.status).toBeGreaterThanOrEqual(200);
    expect(put.status).toBeLessThan(300);

    const head = await call('HEAD', url, { 'Want-Digest': 'adler32' });
    expect(head.status).toBe(200);
    expect(Number(head.headers['content-length'])).toBe(data.length);
    expect(head.headers.digest).toBe(`adler32=${await adler32(data)}`);

    const del = await call('DELETE', url);
    expect(del.status).toBeLessThan(300);
    expect((await call('HEAD', url)).status).toBe(404);
  });
});
