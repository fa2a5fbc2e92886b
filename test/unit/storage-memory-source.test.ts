import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checksumBuffer } from '../../src/storage/checksum.js';
import { PosixAdapter } from '../../src/storage/posix.js';
import { memorySource } from '../../src/storage/sources.js';

/**
 * A small file read whole by its inspection is sent from memory (memorySource): the write counts the bytes
 * instead of hashing them again. On the file:// adapter, which needs no server.
 */
describe('uploads from memory', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rucio-ingest-memory-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const adapter = new PosixAdapter();

  it('write the bytes, verified and renamed, and report the checksums they were read with', async () => {
    const data = randomBytes(300_000);
    const sums = await checksumBuffer(data, true);
    const target = `file://${path.join(tmp, 'a', 'one.bin')}`;
    const res = await adapter.uploadFrom(memorySource(data, 'one.bin', sums), target, { expected: sums, attempt: 1 });
    expect(res).toMatchObject({ alreadyThere: false, checksums: sums });
    expect(fs.readFileSync(path.join(tmp, 'a', 'one.bin')).equals(data)).toBe(true);
    expect(fs.readdirSync(path.join(tmp, 'a'))).toEqual(['one.bin']);
    // The same bytes again: found there and compared, not written twice.
    const again = await adapter.uploadFrom(memorySource(data, 'one.bin', sums), target, { expected: sums, attempt: 2 });
    expect(again.alreadyThere).toBe(true);
  });

  it('count instead of hashing: the checksums given are the ones reported', async () => {
    const data = randomBytes(1000);
    const sums = await checksumBuffer(data);
    // Checksums that do not match the bytes: a hashing write would report the bytes' own adler32.
    const claimed = { bytes: 1000, adler32: sums.adler32 === '00000001' ? '00000002' : '00000001' };
    const target = `file://${path.join(tmp, 'b', 'counted.bin')}`;
    const res = await adapter.uploadFrom(memorySource(data, 'counted.bin', claimed), target, {
      attempt: 1,
      verify: { readbackFallback: false },
    });
    expect(res.checksums).toEqual(claimed);
  });

  it('refuse checksums of another size than the bytes', async () => {
    const data = randomBytes(10);
    expect(() => memorySource(data, 'x', { bytes: 11, adler32: '00000001' })).toThrow(/10 bytes, checksums of 11/);
  });

  it('checksum bytes in memory as zlib and md5sum do (hello\n)', async () => {
    const sums = await checksumBuffer(Buffer.from('hello\n'), true);
    expect(sums).toEqual({ bytes: 6, adler32: '084b021f', md5: 'b1946ac92492d2347c6235b4d2611184' });
  });
});
