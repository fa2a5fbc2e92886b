import { checksumStream } from './checksum.js';
import type { Checksums, RemoteDigest, VerifyOptions, VerifyResult } from './types.js';

/**
 * Compare what a storage reports with what we expect: size first, then the storage's own digest
 * (adler32; md5 too when both sides have it), else read the object back and checksum it. A digest that
 * disagrees is confirmed by reading the object back before it fails (unless read-back is off): under load,
 * XRootD 5.5.3 here answered one file's `Want-Digest` with another file's md5, while both files on its disk
 * were right, and the file failed as corrupt. The bytes decide; the digest's answer is kept in `reason`.
 */
export async function verifyObject(
  expected: Checksums,
  found: RemoteDigest | undefined,
  readBack: () => Promise<NodeJS.ReadableStream>,
  opts: VerifyOptions = {},
): Promise<VerifyResult> {
  if (!found) return { ok: false, method: 'stat', reason: 'the object does not exist' };
  const method = found.adler32 ? 'digest' : 'stat';
  if (found.bytes !== expected.bytes) {
    return { ok: false, method, found, reason: `size is ${found.bytes} B, expected ${expected.bytes} B` };
  }
  if (found.adler32 && !opts.forceReadback) {
    const byDigest = compare(expected, found, 'digest');
    if (byDigest.ok || opts.readbackFallback === false) return byDigest;
    const back = await readBackAndCompare(expected, readBack, opts);
    return {
      ...back,
      reason: `the storage's digest said ${byDigest.reason}; read back: ${back.reason ?? 'as expected'}`,
    };
  }
  if (opts.readbackFallback === false && !opts.forceReadback) {
    // The caller chose not to read back: size is all we can check. Said so in `reason` for the record.
    return { ok: true, method: 'stat', found, reason: 'size only: the storage offers no digest and read-back is off' };
  }
  return readBackAndCompare(expected, readBack, opts);
}

async function readBackAndCompare(
  expected: Checksums,
  readBack: () => Promise<NodeJS.ReadableStream>,
  opts: VerifyOptions,
): Promise<VerifyResult> {
  const stream = await readBack();
  const sums = await checksumStream(stream, { md5: !!expected.md5, onProgress: opts.onProgress, signal: opts.signal });
  return compare(expected, sums, 'readback');
}

function compare(expected: Checksums, found: RemoteDigest, method: 'digest' | 'readback'): VerifyResult {
  if (found.bytes !== expected.bytes) {
    return { ok: false, method, found, reason: `size is ${found.bytes} B, expected ${expected.bytes} B` };
  }
  if (found.adler32 !== expected.adler32) {
    return { ok: false, method, found, reason: `adler32 is ${found.adler32}, expected ${expected.adler32}` };
  }
  if (expected.md5 && found.md5 && found.md5 !== expected.md5) {
    return { ok: false, method, found, reason: `md5 is ${found.md5}, expected ${expected.md5}` };
  }
  return { ok: true, method, found };
}
