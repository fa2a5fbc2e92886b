import { randomFillSync } from 'node:crypto';
import fs from 'node:fs';

const block = 2880;
const cardLength = 80;

type CardValue = string | number | boolean;

/** One 80-character header card: a keyword, a fixed-format value (FITS standard 4.0, section 4.2). */
function card(key: string, value: CardValue, comment?: string): string {
  let v: string;
  if (typeof value === 'boolean') v = (value ? 'T' : 'F').padStart(20);
  else if (typeof value === 'number') v = String(value).padStart(20);
  else v = `'${value.replace(/'/g, "''").padEnd(8)}'`.padEnd(20);
  const text = `${key.padEnd(8)}= ${v}${comment ? ` / ${comment}` : ''}`;
  if (text.length > cardLength) throw new Error(`FITS card ${key} longer than 80 characters`);
  return text.padEnd(cardLength);
}

/**
 * A FITS primary header with the mandatory keywords for an 8-bit image of `bytes` pixels (one row), the
 * given keywords, and END, padded to whole 2880-byte blocks.
 */
export function fitsHeader(bytes: number, keywords: Record<string, CardValue>): Buffer {
  const cards = [
    card('SIMPLE', true, 'conforms to FITS standard'),
    card('BITPIX', 8, 'bits per pixel'),
    card('NAXIS', 2),
    card('NAXIS1', bytes),
    card('NAXIS2', 1),
    ...Object.entries(keywords).map(([k, v]) => card(k, v)),
    'END'.padEnd(cardLength),
  ].join('');
  const padded = Math.ceil(cards.length / block) * block;
  return Buffer.from(cards.padEnd(padded, ' '), 'ascii');
}

/** Write a FITS file of about `size` bytes: the header, random pixels, zero padding to a whole block. */
export function writeFits(file: string, size: number, keywords: Record<string, CardValue>): number {
  const pixels = Math.max(1, size - block);
  const header = fitsHeader(pixels, keywords);
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, header);
    const chunk = Buffer.alloc(1024 * 1024);
    for (let left = pixels; left > 0; left -= chunk.length) {
      const n = Math.min(left, chunk.length);
      randomFillSync(chunk, 0, n);
      fs.writeSync(fd, chunk, 0, n);
    }
    const pad = (block - (pixels % block)) % block;
    if (pad > 0) fs.writeSync(fd, Buffer.alloc(pad));
    return header.length + pixels + pad;
  } finally {
    fs.closeSync(fd);
  }
}
