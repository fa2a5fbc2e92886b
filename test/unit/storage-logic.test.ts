import { describe, expect, it } from 'vitest';
import { parseDigestHeader } from '../../src/storage/digest.js';
import { httpStatusError, StorageError, toStorageError } from '../../src/storage/errors.js';
import { PerfMarkerParser } from '../../src/storage/perf-markers.js';
import { encodePath, httpsUrl, parseStorageUrl, tempSiblingUrl } from '../../src/storage/url.js';
import { rootUrl, xrdError } from '../../src/storage/xrootd.js';
import { checksumFile, checksumStream, readChunkFor, READ_CHUNK_BYTES } from '../../src/storage/checksum.js';
import { localFileSource } from '../../src/storage/sources.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';

describe('storage URLs', () => {
  it('keeps raw PFN paths raw (no fragment, no decoding)', () => {
    expect(parseStorageUrl('davs://h:1/rucio/a b/#c%20.txt')).toEqual({
      scheme: 'davs',
      authority: 'h:1',
      path: '/rucio/a b/#c%20.txt',
    });
    expect(parseStorageUrl('root://h:2//rucio/x')).toEqual({ scheme: 'root', authority: 'h:2', path: '/rucio/x' });
    expect(parseStorageUrl('file:///data/x')).toEqual({ scheme: 'file', authority: '', path: '/data/x' });
    expect(parseStorageUrl('/data/x').scheme).toBe('file');
    expect(() => parseStorageUrl('nonsense')).toThrow(StorageError);
  });
  it('percent-encodes each segment for HTTP, davs mapped to https', () => {
    expect(encodePath('/a b/+=#%é')).toBe('/a%20b/%2B%3D%23%25%C3%A9');
    expect(httpsUrl('davs://h:1/rucio/sp ace?.txt')).toBe('https://h:1/rucio/sp%20ace%3F.txt');
    expect(rootUrl('root://h:2//rucio/a b')).toBe('root://h:2//rucio/a b');
  });
  it('names temporaries as hidden siblings', () => {
    expect(tempSiblingUrl('davs://h:1/rucio/d/f #1.bin')).toMatch(
      /^davs:\/\/h:1\/rucio\/d\/\.f #1\.bin\.rucio-ingest-[0-9a-f]{12}\.part$/,
    );
    expect(tempSiblingUrl('root://h:2//f')).toMatch(/^root:\/\/h:2\/\/\.f\.rucio-ingest-/);
    expect(tempSiblingUrl(`/d/${'x'.repeat(230)}`)).toMatch(/^file:\/\/\/d\/\.rucio-ingest-[0-9a-f]+\.part$/);
  });
});

describe('Digest header', () => {
  it('parses adler32 (keeping leading zeros) and base64 md5', () => {
    expect(parseDigestHeader('adler32=62062')).toEqual({ adler32: '00062062' });
    expect(parseDigestHeader('md5=sZRqySSS0jR8YjW00mERhA==')).toEqual({ md5: 'b1946ac92492d2347c6235b4d2611184' });
    expect(parseDigestHeader('ADLER32=0A0B0C0D, MD5=b1946ac92492d2347c6235b4d2611184')).toEqual({
      adler32: '0a0b0c0d',
      md5: 'b1946ac92492d2347c6235b4d2611184',
    });
  });
  it('ignores algorithms it did not ask for and malformed values', () => {
    expect(parseDigestHeader('sha-256=abc')).toEqual({});
    expect(parseDigestHeader('adler32=zz, md5=short')).toEqual({});
    expect(parseDigestHeader(undefined)).toEqual({});
  });
});

describe('error classification', () => {
  const kind = (e: StorageError) => [e.kind, e.code];
  it('HTTP statuses', () => {
    expect(kind(httpStatusError(503, 'PUT x'))).toEqual(['retryable', 'HTTP_503']);
    expect(kind(httpStatusError(500, 'PUT x'))).toEqual(['retryable', 'HTTP_500']);
    expect(kind(httpStatusError(429, 'PUT x'))).toEqual(['retryable', 'HTTP_429']);
    expect(kind(httpStatusError(401, 'PUT x'))).toEqual(['permanent', 'FORBIDDEN']);
    expect(kind(httpStatusError(403, 'PUT x'))).toEqual(['permanent', 'FORBIDDEN']);
    expect(kind(httpStatusError(404, 'GET x'))).toEqual(['permanent', 'NOT_FOUND']);
    expect(kind(httpStatusError(507, 'PUT x'))).toEqual(['permanent', 'NO_SPACE']);
    expect(httpStatusError(507, 'PUT x').message).toMatch(/free space or pick another RSE/);
  });
  it('node and network errors', () => {
    const errno = (code: string) => Object.assign(new Error(code), { code });
    expect(kind(toStorageError(errno('ECONNRESET'), 'x'))).toEqual(['retryable', 'ECONNRESET']);
    expect(kind(toStorageError(errno('ETIMEDOUT'), 'x'))).toEqual(['retryable', 'ETIMEDOUT']);
    expect(kind(toStorageError(errno('ENOSPC'), 'x'))).toEqual(['permanent', 'NO_SPACE']);
    expect(kind(toStorageError(errno('EACCES'), 'x'))).toEqual(['permanent', 'FORBIDDEN']);
    expect(kind(toStorageError(errno('ENOENT'), 'x'))).toEqual(['permanent', 'NOT_FOUND']);
    expect(kind(toStorageError(errno('UNABLE_TO_VERIFY_LEAF_SIGNATURE'), 'x'))).toEqual(['permanent', 'TLS']);
    expect(kind(toStorageError(errno('DEPTH_ZERO_SELF_SIGNED_CERT'), 'x'))).toEqual(['permanent', 'TLS']);
    // A protocol alert on one connection under load, or a connection closed mid-body: retried.
    expect(kind(toStorageError(errno('ERR_SSL_SSLV3_ALERT_UNEXPECTED_MESSAGE'), 'x'))).toEqual([
      'retryable',
      'ERR_SSL_SSLV3_ALERT_UNEXPECTED_MESSAGE',
    ]);
    expect(kind(toStorageError(errno('EPROTO'), 'x'))).toEqual(['retryable', 'EPROTO']);
    expect(kind(toStorageError(errno('ERR_STREAM_PREMATURE_CLOSE'), 'x'))).toEqual([
      'retryable',
      'ERR_STREAM_PREMATURE_CLOSE',
    ]);
  });
  it('xrdcp/xrdfs failures', () => {
    expect(kind(xrdError(54, '[ERROR] Server responded with an error: [3011] no such file', 'x'))).toEqual([
      'permanent',
      'NOT_FOUND',
    ]);
    expect(kind(xrdError(53, 'Run: [ERROR] CheckSum error', 'x'))).toEqual(['permanent', 'CHECKSUM_MISMATCH']);
    expect(kind(xrdError(51, '[ERROR] Socket error', 'x'))).toEqual(['retryable', 'XRD_51']);
  });
});

describe('TPC perf markers', () => {
  const marker = (stripe: number, bytes: number) =>
    `Perf Marker\nTimestamp: 1\nStripe Index: ${stripe}\nStripe Bytes Transferred: ${bytes}\nTotal Stripe Count: 2\nEnd\n`;
  it('sums stripes across chunk boundaries and reads the last line', () => {
    const p = new PerfMarkerParser();
    const text = marker(0, 100) + marker(1, 50) + marker(0, 300) + 'success: Created\n';
    for (let i = 0; i < text.length; i += 7) p.feed(text.slice(i, i + 7));
    expect(p.bytes).toBe(350);
    expect(p.end()).toEqual({ ok: true, message: 'Created' });
  });
  it('reports failures and a body without an outcome', () => {
    const p = new PerfMarkerParser();
    p.feed(marker(0, 0) + 'failure: Remote side failed with status code 404');
    expect(p.end()).toMatchObject({ ok: false, message: expect.stringContaining('404') as string });
    expect(new PerfMarkerParser().end().ok).toBe(false);
  });
});

describe('checksumStream', () => {
  it('adler32 + md5 in one pass; empty input is adler32 00000001', async () => {
    expect(await checksumStream(Readable.from([]), { md5: true })).toEqual({
      bytes: 0,
      adler32: '00000001',
      md5: 'd41d8cd98f00b204e9800998ecf8427e',
    });
    expect(await checksumStream(Readable.from([Buffer.from('a')]))).toEqual({ bytes: 1, adler32: '00620062' });
  });
  it('stops with a retryable NO_PROGRESS when the stream stalls', async () => {
    const stalled = new Readable({ read() {} });
    const err = await checksumStream(stalled, { noProgressTimeoutMs: 50 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'retryable', code: 'NO_PROGRESS' });
  });
  it('aborts promptly', async () => {
    const ac = new AbortController();
    const p = checksumStream(new Readable({ read() {} }), { signal: ac.signal });
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: 'ABORTED' });
  });
});

describe('file reads sized to the file', () => {
  it('reads a small file in one buffer of its size, a big one in 4 MiB chunks', () => {
    expect(readChunkFor(1024 * 1024)).toBe(1024 * 1024);
    expect(readChunkFor(10)).toBe(64 * 1024);
    expect(readChunkFor(10 * 1024 * 1024 * 1024)).toBe(READ_CHUNK_BYTES);
  });
  it('still reads a file to its end when it grew after its size was taken', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'read-chunk-'));
    try {
      const p = path.join(dir, 'f');
      fs.writeFileSync(p, Buffer.alloc(100_000, 1));
      const source = localFileSource(p); // size taken now: 100 000 B
      fs.appendFileSync(p, Buffer.alloc(300_000, 2));
      const whole = fs.readFileSync(p);
      let read = 0;
      const md5 = createHash('md5');
      for await (const chunk of await source.open()) {
        read += (chunk as Buffer).length;
        md5.update(chunk as Buffer);
      }
      expect(read).toBe(400_000);
      expect(md5.digest('hex')).toBe(createHash('md5').update(whole).digest('hex'));
      expect((await checksumFile(p, { md5: true })).md5).toBe(createHash('md5').update(whole).digest('hex'));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
