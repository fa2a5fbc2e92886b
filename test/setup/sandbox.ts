import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { up } from '../../src/sandbox/sandbox.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));

/** Newest modification time of the files under `dir`. */
function newest(dir: string): number {
  let t = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) t = Math.max(t, fs.statSync(path.join(e.parentPath, e.name)).mtimeMs);
  }
  return t;
}

/**
 * Bring the real sandbox up once per `npm test` (seconds when it is already up), and rebuild `dist/` when
 * the sources changed since: some tests run the built CLI and its pre-built workflow bundle, as operators do.
 */
export default async function setup(): Promise<void> {
  const bundle = path.join(repo, 'dist', 'workflow-bundle.js');
  if (!fs.existsSync(bundle) || fs.statSync(bundle).mtimeMs < newest(path.join(repo, 'src'))) {
    console.error('[build] sources changed since the last build: npm run build');
    execFileSync('npm', ['run', '-s', 'build'], { cwd: repo, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  await up((line) => console.error(`[sandbox] ${line}`));
}
