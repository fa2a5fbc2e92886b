import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { layout } from '../../src/sandbox/layout.js';
import { eraseRseFiles } from '../../src/sandbox/scratch.js';

describe("a run's scratch files on the sandbox's RSE disks", () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'rucio-ingest-scratch-'));
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
  const l = layout(root);
  const put = (rse: string, rel: string, bytes: number) => {
    const p = path.join(l.rseData(rse), rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, Buffer.alloc(bytes));
    return p;
  };

  it('are removed wherever they are, and nothing else is', () => {
    const mine = [
      put('LANDING-1', 'rucio/user/demo/1a/2b/bb-mxd7v2vi-0001.dat', 10),
      put('SAFE-1', 'rucio/user/demo/3c/4d/bb-mxd7v2vi-0001.dat', 10),
      put('SECURE', 'rucio/tests/.bb-mxd7v2vi-0002.dat.rucio-ingest-a1.part', 5),
    ];
    const others = [
      put('LANDING-1', 'rucio/user/demo/1a/2b/bb-other000-0001.dat', 7),
      put('CHEAP-1', 'rucio/lsst/00/11/raw.fits', 7),
    ];
    expect(eraseRseFiles('bb-mxd7v2vi', l)).toEqual({ files: 3, bytes: 25 });
    for (const p of mine) expect(fs.existsSync(p)).toBe(false);
    for (const p of others) expect(fs.existsSync(p)).toBe(true);
    expect(eraseRseFiles('bb-mxd7v2vi', l)).toEqual({ files: 0, bytes: 0 });
  });

  it('need a marker long enough to be a run token', () => {
    expect(() => eraseRseFiles('.dat', l)).toThrow(/too short/);
  });
});
