import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { rses, secureStorage, type Layout, type XrootdEndpoint } from './layout.js';
import type { ManagedProcess } from './processes.js';
import { runningPid } from './processes.js';
import { xrootdHealthy } from './xrootd.js';

export const watchdogName = 'xrootd-watchdog';

/**
 * XRootD 5.5.3 here once stopped accepting HTTPS connections for good (2026-12-06: its HTTPS accept thread
 * gone, the listen queue full, the process otherwise idle) during a benchmark. Its restart loop only helps
 * when it exits, so this process does what a site's liveness probe does: restart a storage that stops
 * answering. Run by `sandbox up` as `rucio-ingest sandbox watch`.
 */
export function watchdogProcess(l: Layout): ManagedProcess {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const cli = path.resolve(here, '..', '..', 'bin', 'rucio-ingest.js');
  return {
    name: watchdogName,
    command: process.execPath,
    args: [cli, 'sandbox', 'watch'],
    env: { ...process.env, RUCIO_INGEST_SANDBOX: l.root },
    cwd: '/',
  };
}

export interface WatchOptions {
  everyMs: number;
  /** Consecutive unanswered probes before a restart. */
  failures: number;
  /** How long one probe waits for an HTTP answer (a loaded storage answers in milliseconds). */
  probeTimeoutMs: number;
  /** After a restart, time for the new server to come up before its probes count. */
  graceMs: number;
}

/** Probe every XRootD of the sandbox; kill one that stops answering, for its restart loop to start it again. */
export async function watchXrootd(
  l: Layout,
  say: (line: string) => void,
  opts: WatchOptions = { everyMs: 10_000, failures: 3, probeTimeoutMs: 10_000, graceMs: 60_000 },
  signal?: AbortSignal,
): Promise<void> {
  const endpoints: XrootdEndpoint[] = [...rses, secureStorage];
  const misses = new Map<string, number>();
  const restartedAt = new Map<string, number>();
  say(`watching ${endpoints.length} XRootD endpoints every ${opts.everyMs / 1000} s`);
  while (!signal?.aborted) {
    await Promise.all(
      endpoints.map(async (e) => {
        const name = `xrootd-${e.name}`;
        const loop = runningPid(l.run, name);
        if (loop === undefined) return misses.delete(name); // stopped on purpose, or not started yet
        if (Date.now() - (restartedAt.get(name) ?? -Infinity) < opts.graceMs) return;
        if (await xrootdHealthy(l, e, opts.probeTimeoutMs)) return misses.delete(name);
        const n = (misses.get(name) ?? 0) + 1;
        misses.set(name, n);
        if (n < opts.failures) return;
        misses.delete(name);
        restartedAt.set(name, Date.now());
        const stuck = childrenOf(loop);
        for (const pid of stuck) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            /* gone meanwhile */
          }
        }
        say(
          `${new Date().toISOString()} ${name}: no HTTP answer in ${n} probes; killed ${stuck.join(', ') || 'nothing'} (its loop restarts it)`,
        );
      }),
    );
    await sleep(opts.everyMs, undefined, { signal }).catch(() => undefined);
  }
}

/** The pids a process started (the restart loop's current server). */
export function childrenOf(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
