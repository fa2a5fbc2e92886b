import net from 'node:net';
import { HOST, ports } from './layout.js';
import type { ManagedProcess } from './processes.js';

/**
 * Rucio's cache (Debian `memcached`), as every Rucio deployment runs one. Without it each server process
 * falls back to dogpile's null backend and asks PostgreSQL for every config option, RSE lookup and
 * expression on every request: a profile of the full lifecycle showed a quarter of the server's CPU in
 * config lookups alone. The sandbox's own instance on its own port, never a host memcached: it starts
 * empty with the sandbox and goes with it, so it never outlives a re-created database.
 */
export function memcachedProcess(): ManagedProcess {
  const args = ['-l', HOST, '-p', String(ports.memcached), '-U', '0', '-m', '64', '-t', '2'];
  // memcached refuses to run as root unless told which user to be; elsewhere -u is ignored.
  if (process.getuid?.() === 0) args.push('-u', 'root');
  return { name: 'memcached', command: '/usr/bin/memcached', args, cwd: '/' };
}

export const memcachedUrl = `${HOST}:${ports.memcached}`;

/** Healthy when it answers `version` (a port held by something else does not). */
export function memcachedHealthy(timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ port: ports.memcached, host: HOST });
    let answer = '';
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => sock.write('version\r\n'));
    sock.on('data', (d) => {
      answer += d.toString('latin1');
      if (answer.includes('\r\n')) done(answer.startsWith('VERSION '));
    });
    sock.once('error', () => done(false));
  });
}
