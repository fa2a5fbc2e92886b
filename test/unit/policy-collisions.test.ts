import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CollisionFinder } from '../../src/policy/collisions.js';

let tmpDir: string;
beforeEach(async () => {
  tmpDir = await mkdtemp(path.join(os.tmpdir(), 'policy-collisions-'));
});
afterEach(async () => {
  await rm(tmpDir, { recursive: true, force: true });
});

/** 1000 distinct keys, then the keys of entries 10, 500 and 999 again (sources say where each came from). */
async function addWithThreeDuplicates(finder: CollisionFinder): Promise<void> {
  for (let i = 0; i < 1000; i++) await finder.add(`magic:f${i}`, `dir/f${i}.dat`);
  for (const i of [999, 10, 500]) await finder.add(`magic:f${i}`, `manifest.jsonl line ${i}`);
}

describe('CollisionFinder', () => {
  it('finds duplicates in memory', async () => {
    const finder = new CollisionFinder({ tmpDir });
    await finder.add('magic:a', 'dir/a+b.dat');
    await finder.add('magic:b', 'dir/b.dat');
    await finder.add('magic:a', 'dir/a=b.dat');
    await finder.add('magic:a', 'manifest.jsonl line 7');
    expect(await finder.finish()).toEqual({
      collisions: [
        { key: 'magic:a', first: 'dir/a+b.dat', second: 'dir/a=b.dat' },
        { key: 'magic:a', first: 'dir/a+b.dat', second: 'manifest.jsonl line 7' },
      ],
      count: 2,
    });
    expect(await readdir(tmpDir)).toEqual([]);
  });

  it('spills to temporary files beyond maxInMemory and still finds every duplicate, in input order', async () => {
    const finder = new CollisionFinder({ maxInMemory: 10, tmpDir });
    await addWithThreeDuplicates(finder);
    expect((await readdir(tmpDir)).length).toBe(1);
    expect(await finder.finish()).toEqual({
      collisions: [
        { key: 'magic:f999', first: 'dir/f999.dat', second: 'manifest.jsonl line 999' },
        { key: 'magic:f10', first: 'dir/f10.dat', second: 'manifest.jsonl line 10' },
        { key: 'magic:f500', first: 'dir/f500.dat', second: 'manifest.jsonl line 500' },
      ],
      count: 3,
    });
    expect(await readdir(tmpDir)).toEqual([]);
  });

  it('reports at most max collisions but counts them all', async () => {
    const finder = new CollisionFinder({ maxInMemory: 10, tmpDir });
    for (let i = 0; i < 100; i++) await finder.add(`k${i % 40}`, `line ${i}`);
    const { collisions, count } = await finder.finish(5);
    expect(count).toBe(60);
    expect(collisions.map((c) => c.second)).toEqual(['line 40', 'line 41', 'line 42', 'line 43', 'line 44']);
    expect(collisions[0]).toEqual({ key: 'k0', first: 'line 0', second: 'line 40' });
  });

  it('keeps keys and sources with newlines and quotes intact when spilled', async () => {
    const finder = new CollisionFinder({ maxInMemory: 1, tmpDir });
    await finder.add('x', 'a');
    await finder.add('odd\n"key"', 'first\nsource');
    await finder.add('odd\n"key"', 'second');
    expect((await finder.finish()).collisions).toEqual([
      { key: 'odd\n"key"', first: 'first\nsource', second: 'second' },
    ]);
  });

  it('refuses use after finish', async () => {
    const finder = new CollisionFinder({ tmpDir });
    await finder.finish();
    await expect(finder.add('a', 'b')).rejects.toThrow(/after finish/);
  });
});
