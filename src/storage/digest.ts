import { formatAdler32, md5Base64ToHex } from '../shared/checksum-format.js';

/**
 * Parse an RFC 3230 `Digest` header (`adler32=084b021f, md5=sZRqySSS0jR8YjW00mERhA==`) into
 * normalised checksums. Algorithm names are case-insensitive; md5 is base64 per RFC 3230
 * (hex tolerated, as some servers send it).
 */
export function parseDigestHeader(header: string | string[] | undefined): { adler32?: string; md5?: string } {
  const out: { adler32?: string; md5?: string } = {};
  const text = Array.isArray(header) ? header.join(',') : (header ?? '');
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const algo = part.slice(0, eq).trim().toLowerCase();
    const value = part.slice(eq + 1).trim();
    if (!value) continue;
    try {
      if (algo === 'adler32') out.adler32 = formatAdler32(value);
      else if (algo === 'md5') out.md5 = /^[0-9a-f]{32}$/i.test(value) ? value.toLowerCase() : md5Base64ToHex(value);
    } catch {
      // A malformed value is treated as no digest at all: verification falls back to read-back.
    }
  }
  if (out.md5 !== undefined && out.md5.length !== 32) delete out.md5;
  return out;
}
