import { describe, expect, it } from 'vitest';
import { buildPfn, hashLfnPath } from '../../src/rucio/lfn2pfn.js';
import { formatAdler32, md5Base64ToHex, md5HexToBase64 } from '../../src/shared/checksum-format.js';

describe('lfn2pfn hash', () => {
  it('matches Rucio test vectors', () => {
    expect(hashLfnPath('user.jdoe', 'file.root')).toBe('user/jdoe/59/52/file.root');
    expect(hashLfnPath('test', 'file1')).toBe('test/80/25/file1');
  });
  it('builds PFNs like Rucio', () => {
    const davs = { scheme: 'davs', hostname: '127.0.0.1', port: 18444, prefix: '/rucio' };
    expect(buildPfn(davs, 'test/80/25/file1')).toBe('davs://127.0.0.1:18444/rucio/test/80/25/file1');
    expect(buildPfn({ ...davs, scheme: 'root', prefix: '/rucio/' }, 'a/b')).toBe('root://127.0.0.1:18444//rucio/a/b');
  });
});

describe('checksum formatting', () => {
  it('pads adler32 to 8 lowercase hex digits', () => {
    expect(formatAdler32(0x1a2b)).toBe('00001a2b');
    expect(formatAdler32('ABCDEF')).toBe('00abcdef');
    expect(formatAdler32(0xffffffff)).toBe('ffffffff');
    expect(() => formatAdler32('xyz')).toThrow(/not an adler32/);
  });
  it('converts md5 between base64 (RFC 3230) and hex (Rucio)', () => {
    const hex = 'd41d8cd98f00b204e9800998ecf8427e';
    expect(md5HexToBase64(hex)).toBe('1B2M2Y8AsgTpgAmY7PhCfg==');
    expect(md5Base64ToHex('1B2M2Y8AsgTpgAmY7PhCfg==')).toBe(hex);
  });
});
