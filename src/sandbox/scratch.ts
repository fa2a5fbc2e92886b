import fs from 'node:fs';
import path from 'node:path';
import { layout as sandboxLayout, rses, secureStorage, type Layout } from './layout.js';

/**
 * Removes from the sandbox's RSE disks every file whose name contains `marker`: what a test or a benchmark run
 * wrote there (their files carry a unique token in their names). Rucio keeps its records, so use it only on a
 * run's own scratch data in a sandbox: benchmarks upload gigabytes a run, and a disk that fills up fails
 * everything else on the machine. Returns what was removed.
 */
export function eraseRseFiles(marker: string, l: Layout = sandboxLayout()): { files: number; bytes: number } {
  if (marker.length < 6) throw new Error(`eraseRseFiles: marker "${marker}" is too short to be a run's own token`);
  const removed = { files: 0, bytes: 0 };
  for (const rse of [...rses, secureStorage])
    for (const p of filesUnder(l.rseData(rse.name), (name) => name.includes(marker))) {
      removed.bytes += fs.statSync(p).size;
      fs.rmSync(p, { force: true });
      removed.files++;
    }
  return removed;
}

/** The regular files anywhere under `root` (none if it does not exist) whose names `match`. */
export function filesUnder(root: string, match: (name: string) => boolean): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && match(e.name)) out.push(p);
    }
  };
  if (fs.existsSync(root)) walk(root);
  return out;
}
