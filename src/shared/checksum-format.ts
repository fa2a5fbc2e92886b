/** Rucio wants adler32 as exactly 8 lowercase hex digits: keep leading zeros. */
export function formatAdler32(value: number | string): string {
  const n = typeof value === 'number' ? value >>> 0 : parseInt(value, 16);
  if (!Number.isFinite(n) || n < 0 || n > 0xffffffff) throw new Error(`not an adler32 value: ${value}`);
  return n.toString(16).padStart(8, '0');
}

/** RFC 3230 sends md5 as base64; Rucio stores it as hex. */
export function md5Base64ToHex(b64: string): string {
  return Buffer.from(b64, 'base64').toString('hex');
}

export function md5HexToBase64(hex: string): string {
  return Buffer.from(hex, 'hex').toString('base64');
}
