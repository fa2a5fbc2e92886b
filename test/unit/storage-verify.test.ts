import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { checksumStream } from '../../src/storage/checksum.js';
import { verifyObject } from '../../src/storage/verify.js';

const bytes = Buffer.from('the bytes on the storage');
const other = Buffer.from('another file, same size!');

async function sums(b: Buffer) {
  return checksumStream(Readable.from([b]), { md5: true });
}

/** A read-back that counts its calls, over `content`. */
function reader(content: Buffer) {
  const r = { calls: 0, read: async () => (r.calls++, Readable.from([content])) };
  return r;
}

describe('verifyObject: what a storage reports against what was sent', () => {
  it('trusts a digest that agrees, without reading back', async () => {
    const expected = await sums(bytes);
    const back = reader(bytes);
    const v = await verifyObject(expected, { ...expected }, back.read);
    expect(v).toMatchObject({ ok: true, method: 'digest' });
    expect(back.calls).toBe(0);
  });

  it("reads back when the digest disagrees: right bytes pass, with the storage's answer kept in the reason", async () => {
    const expected = await sums(bytes);
    const wrongAnswer = await sums(other); // another file's md5, as XRootD 5.5.3 answered under load
    expect(wrongAnswer.bytes).toBe(expected.bytes);
    const back = reader(bytes);
    const v = await verifyObject(expected, { ...expected, md5: wrongAnswer.md5 }, back.read);
    expect(back.calls).toBe(1);
    expect(v.ok).toBe(true);
    expect(v.method).toBe('readback');
    expect(v.reason).toContain(`md5 is ${wrongAnswer.md5}, expected ${expected.md5}`);
  });

  it('fails when the read-back confirms the mismatch', async () => {
    const expected = await sums(bytes);
    const found = await sums(other);
    const v = await verifyObject(expected, found, reader(other).read);
    expect(v).toMatchObject({ ok: false, method: 'readback' });
    expect(v.reason).toMatch(/digest said adler32 is .*; read back: adler32 is/);
  });

  it('keeps the digest verdict when read-back is off, and fails on size without reading', async () => {
    const expected = await sums(bytes);
    const found = await sums(other);
    const back = reader(bytes);
    expect(await verifyObject(expected, found, back.read, { readbackFallback: false })).toMatchObject({
      ok: false,
      method: 'digest',
    });
    expect(await verifyObject(expected, { ...expected, bytes: 3 }, back.read)).toMatchObject({ ok: false });
    expect(back.calls).toBe(0);
  });
});
