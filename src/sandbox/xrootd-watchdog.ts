import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { rses, secureStorage, type Layout, type XrootdEndpoint } from './layout.js';
import type { ManagedProcess } from './processes.js';
import { runningPid } from './processes.js';
import { xrootdHealthy, xrootdTakesWrites } from './xrootd.js';

export const watchdogName = 'xrootd-watchdog';

/**
 * XRootD 5.5.3 here once stopped accepting HTTPS connections for good (2026-12-06: its HTTPS accept thread
 * gone, the listen queue full, the process otherwise idle) during a benchmark. Its restart loop only helps
 * when it exits, so this process does what a site's liveness probe does: restart a storage that stops
 * answering. Run by `sandbox up` as `rucio-ingest sandbox watch`. It also hangs half way: most connections
 * unanswered, now and then one served (2026-12-06 night: copies from LANDING-1 stalled for 4.5 minutes while
 * single probes got through and reset a count of consecutive misses), so misses count within a window.
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
  /** Unanswered probes, among the last `window`, that restart a storage. */
  failures: number;
  /** How many of the latest probes count (at least `failures`). */
  window: number;
  /** How long one probe waits for an HTTP answer (a loaded storage answers in milliseconds). */
  probeTimeoutMs: number;
  /** After a restart, time for the new server to come up before its probes count. */
  graceMs: number;
}

/**
 * One probe's outcome added to an endpoint's latest (true for unanswered); `restart` when this probe went
 * unanswered and `failures` of the latest `window` did (`misses` of the `counted`). `keep` is what to remember
 * for the next probe: nothing after a restart, whose new server starts with a clean record.
 */
export function recordProbe(
  latest: boolean[],
  missed: boolean,
  opts: Pick<WatchOptions, 'failures' | 'window'>,
): { keep: boolean[]; misses: number; counted: number; restart: boolean } {
  const window = [...latest, missed].slice(-Math.max(opts.window, opts.failures));
  const misses = window.filter(Boolean).length;
  const restart = missed && misses >= opts.failures;
  return { keep: restart ? [] : window, misses, counted: window.length, restart };
}

/** Probe every XRootD of the sandbox; kill one that stops answering, for its restart loop to start it again. */
export async function watchXrootd(
  l: Layout,
  say: (line: string) => void,
  opts: WatchOptions = { everyMs: 10_000, failures: 3, window: 5, probeTimeoutMs: 10_000, graceMs: 60_000 },
  signal?: AbortSignal,
): Promise<void> {
  const endpoints: XrootdEndpoint[] = [...rses, secureStorage];
  /** The latest probes' outcomes per endpoint, newest last (true: unanswered). */
  const recent = new Map<string, boolean[]>();
  const restartedAt = new Map<string, number>();
  say(`watching ${endpoints.length} XRootD endpoints every ${opts.everyMs / 1000} s`);
  while (!signal?.aborted) {
    await Promise.all(
      endpoints.map(async (e) => {
        const name = `xrootd-${e.name}`;
        const loop = runningPid(l.run, name);
        if (loop === undefined) return recent.delete(name); // stopped on purpose, or not started yet
        if (Date.now() - (restartedAt.get(name) ?? -Infinity) < opts.graceMs) return;
        // A storage that answers HEADs but takes no upload is down for ingestion all the same.
        const missed =
          !(await xrootdHealthy(l, e, opts.probeTimeoutMs)) || !(await xrootdTakesWrites(l, e, opts.probeTimeoutMs));
        const { keep, misses, counted, restart } = recordProbe(recent.get(name) ?? [], missed, opts);
        recent.set(name, keep);
        if (!restart) return;
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
          `${new Date().toISOString()} ${name}: no HTTP answer in ${misses} of its last ${counted} probes; killed ${stuck.join(', ') || 'nothing'} (its loop restarts it)`,
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
