import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { walkDirectory, type WalkedFile, type WalkOptions } from '../../src/policy/walk.js';

let base: string;
let root: string;
beforeEach(async () => {
  base = await mkdtemp(path.join(os.tmpdir(), 'policy-walk-'));
  root = path.join(base, 'root');
  await mkdir(root);
});
afterEach(async () => {
  await rm(base, { recursive: true, force: true });
});

async function files(tree: Record<string, string>): Promise<void> {
  for (const [rel, content] of Object.entries(tree)) {
    await mkdir(path.dirname(path.join(root, rel)), { recursive: true });
    await writeFile(path.join(root, rel), content);
  }
}

async function walked(opts?: WalkOptions): Promise<WalkedFile[]> {
  const out: WalkedFile[] = [];
  for await (const f of walkDirectory(root, opts)) out.push(f);
  return out;
}

const listing = (list: WalkedFile[]) =>
  list.map((f) => (f.refused ? `${f.relativePath} ${f.refused.code}` : f.relativePath));

function hasMkfifo(): boolean {
  try {
    execFileSync('mkfifo', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('walkDirectory', () => {
  it('lists depth-first in code-unit order with sizes', async () => {
    await files({ 'b.dat': '12', 'a/z.dat': '1', 'a/B.dat': '', 'A.dat': 'xyz', 'a/sub/c.dat': '1234' });
    const list = await walked();
    expect(listing(list)).toEqual(['A.dat', 'a/B.dat', 'a/sub/c.dat', 'a/z.dat', 'b.dat']);
    expect(list[0]).toEqual({
      absolutePath: path.join(root, 'A.dat'),
      relativePath: 'A.dat',
      size: 3,
      mtimeMs: expect.any(Number),
    });
    expect(listing(await walked())).toEqual(listing(list));
  });

  it('leaves out files with an excluded suffix, such as metadata sidecars', async () => {
    await files({ 'a.dat': '1', 'a.dat.meta': '{}', 'd/b.dat': '1', 'd/b.dat.meta': '{}' });
    expect(listing(await walked({ excludeSuffixes: ['.meta'] }))).toEqual(['a.dat', 'd/b.dat']);
  });

  it('names the companion files next to each file, from the listing', async () => {
    await files({ 'a.dat': '1', 'a.dat.meta': '{}', 'a.dat.trigger': '', 'b.dat': '1', 'b.dat.meta': '{}' });
    const list = await walked({ excludeSuffixes: ['.meta', '.trigger'], companionSuffixes: ['.trigger', '.meta'] });
    expect(list.map((f) => [f.relativePath, [...(f.companions ?? [])].sort()])).toEqual([
      ['a.dat', ['.meta', '.trigger']],
      ['b.dat', ['.meta']],
    ]);
  });

  it('follows symlinks inside the root, refuses those outside and dangling ones', async () => {
    await files({ 'real/f.dat': '1', 'top.dat': '1' });
    await mkdir(path.join(base, 'outside'));
    await writeFile(path.join(base, 'outside', 'secret.dat'), 'x');
    await symlink(path.join(root, 'real'), path.join(root, 'linked-dir'));
    await symlink('top.dat', path.join(root, 'linked-file'));
    await symlink(path.join(base, 'outside'), path.join(root, 'out-dir'));
    await symlink(path.join(base, 'outside', 'secret.dat'), path.join(root, 'out-file'));
    await symlink(path.join(root, 'nothing-here'), path.join(root, 'dangling'));
    const list = await walked();
    expect(listing(list)).toEqual([
      'dangling SourceNotReadable',
      'linked-dir/f.dat',
      'linked-file',
      'out-dir SymlinkOutsideRoot',
      'out-file SymlinkOutsideRoot',
      'real/f.dat',
      'top.dat',
    ]);
    expect(list.find((f) => f.relativePath === 'linked-file')?.size).toBe(1);
    expect(list.find((f) => f.relativePath === 'out-dir')?.refused?.message).toMatch(/outside .*not followed/);
  });

  it('does not follow a symlink back to an ancestor', async () => {
    await files({ 'a/f.dat': '1' });
    await symlink(root, path.join(root, 'a', 'loop'));
    expect(listing(await walked())).toEqual(['a/f.dat', 'a/loop SymlinkLoop']);
  });

  it.skipIf(!hasMkfifo())('refuses a FIFO as not a regular file (skipped where mkfifo is missing)', async () => {
    await files({ 'a.dat': '1' });
    execFileSync('mkfifo', [path.join(root, 'pipe')]);
    const list = await walked();
    expect(listing(list)).toEqual(['a.dat', 'pipe SourceNotReadable']);
    expect(list[1]?.refused?.message).toMatch(/is not a regular file/);
  });

  it('says clearly when the root is missing or not a directory', async () => {
    await files({ 'f.dat': '1' });
    const walkOf = async (dir: string) => {
      for await (const _ of walkDirectory(dir)) void _;
    };
    await expect(walkOf(path.join(base, 'missing'))).rejects.toThrow(/source directory .*missing does not exist/);
    await expect(walkOf(path.join(root, 'f.dat'))).rejects.toThrow(/is not a directory/);
  });
});
