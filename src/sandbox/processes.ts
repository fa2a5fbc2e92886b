import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** A long-running process of the sandbox, tracked by its pid file so `down` stops only what `up` started. */
export interface ManagedProcess {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Start it again a second after it exits, as a site's init system would (`down` stops both). */
  restartOnExit?: boolean;
}

/**
 * A shell loop that runs the command again whenever it exits, logging each exit. XRootD 5.5.3 here
 * segfaults in libssl now and then under many short TLS connections (seen in a 1000-file benchmark); a
 * storage outage is retried by the lifecycle, but only if the storage comes back.
 */
function supervised(p: ManagedProcess): { command: string; args: string[] } {
  const loop =
    "trap 'kill $child 2>/dev/null; exit 0' TERM INT; " +
    'while :; do "$@" & child=$!; wait $child; code=$?; ' +
    'echo "--- $(date -u +%Y-%m-%dT%H:%M:%SZ) exited with $code; restarting in 1 s"; sleep 1; done';
  return { command: '/bin/sh', args: ['-c', loop, p.name, p.command, ...p.args] };
}

export function pidFile(runDir: string, name: string): string {
  return path.join(runDir, `${name}.pid`);
}

export function logFile(logDir: string, name: string): string {
  return path.join(logDir, `${name}.log`);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid recorded for `name`, if that process still runs. */
export function runningPid(runDir: string, name: string): number | undefined {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(pidFile(runDir, name), 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return undefined;
  // A zombie is not running; nor is a recycled pid now used by another program.
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (/\) Z /.test(stat)) return undefined;
  } catch {
    /* no /proc: trust kill(0) */
  }
  return pid;
}

/** Start `p` detached, stdout+stderr to its log, pid to its pid file. Returns the pid. */
export function startDetached(p: ManagedProcess, runDir: string, logDir: string): number {
  fs.mkdirSync(runDir, { recursive: true });
  fs.mkdirSync(logDir, { recursive: true });
  const out = fs.openSync(logFile(logDir, p.name), 'a');
  fs.writeSync(out, `\n--- ${new Date().toISOString()} starting: ${p.command} ${p.args.join(' ')}\n`);
  const run = p.restartOnExit ? supervised(p) : p;
  const child = spawn(run.command, run.args, {
    cwd: p.cwd,
    env: p.env ?? process.env,
    detached: true,
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  if (child.pid === undefined) throw new Error(`could not start ${p.name} (${p.command})`);
  child.unref();
  fs.writeFileSync(pidFile(runDir, p.name), String(child.pid));
  return child.pid;
}

/** SIGTERM the process group of `name`, then SIGKILL after `graceMs`. Only touches the recorded pid. */
export async function stopProcess(runDir: string, name: string, graceMs = 10_000): Promise<boolean> {
  const pid = runningPid(runDir, name);
  fs.rmSync(pidFile(runDir, name), { force: true });
  if (pid === undefined) return false;
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig); // the process group we created with detached: true
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        /* already gone */
      }
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(100);
  if (isAlive(pid)) signal('SIGKILL');
  return true;
}

export function portOpen(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/** Poll `check` until it returns true; on timeout throw with `what` and the log to read. */
export async function waitUntil(
  check: () => Promise<boolean>,
  what: string,
  opts: { timeoutMs: number; log?: string; pidOf?: () => number | undefined },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (opts.pidOf && opts.pidOf() === undefined) {
      throw new Error(`${what}: the process exited.${opts.log ? ` See its log: ${opts.log}` : ''}`);
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${what}: not ready after ${opts.timeoutMs / 1000}s.${opts.log ? ` See its log: ${opts.log}` : ''}`,
      );
    }
    await sleep(250);
  }
}
