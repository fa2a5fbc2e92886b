import { describe, expect, it } from 'vitest';
import { ndjsonLines } from '../../src/rucio/ndjson.js';

async function* chunks(parts: Array<Buffer | string>): AsyncGenerator<Buffer | string> {
  for (const p of parts) yield p;
}
async function lines(parts: Array<Buffer | string>): Promise<string[]> {
  const out: string[] = [];
  for await (const l of ndjsonLines(chunks(parts))) out.push(l);
  return out;
}

describe('NDJSON line splitting', () => {
  it('joins lines and multi-byte characters split across chunks', async () => {
    const body = Buffer.from('{"name":"raw_é+ü.fits"}\n{"name":"文件"}\n\n{"name":"last"}');
    // Cut at every byte offset, including inside the 2- and 3-byte characters.
    for (let cut = 1; cut < body.length; cut++) {
      expect(await lines([body.subarray(0, cut), body.subarray(cut)])).toEqual([
        '{"name":"raw_é+ü.fits"}',
        '{"name":"文件"}',
        '{"name":"last"}',
      ]);
    }
  });

  it('streams many lines per chunk, CRLF included', async () => {
    const many = Array.from({ length: 5000 }, (_, i) => `{"i":${i}}`);
    const out = await lines([many.slice(0, 2500).join('\r\n') + '\r\n', many.slice(2500).join('\n') + '\n']);
    expect(out).toHaveLength(5000);
    expect(out[4999]).toBe('{"i":4999}');
    expect(out[2499]).toBe('{"i":2499}');
  });
});
