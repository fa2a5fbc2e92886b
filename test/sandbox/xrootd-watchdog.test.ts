import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { layout, rses } from '../../src/sandbox/layout.js';
import { runningPid } from '../../src/sandbox/processes.js';
import fs from 'node:fs';
import path from 'node:path';
import { writeProbePath, xrootdHealthy, xrootdTakesWrites } from '../../src/sandbox/xrootd.js';
import { childrenOf, watchXrootd } from '../../src/sandbox/xrootd-watchdog.js';

describe('the XRootD watchdog', () => {
  it('probes writes too: an answering storage takes a small PUT, and the probe file goes again', async () => {
    const l = layout();
    const landing = rses.find((r) => r.name === 'LANDING-1')!;
    expect(await xrootdTakesWrites(l, landing, 5000)).toBe(true);
    expect(fs.existsSync(path.join(l.rseData('LANDING-1'), writeProbePath))).toBe(false);
  });

  // XRootD 5.5.3 once stopped accepting HTTPS connections while its process lived on: the restart loop
  // never saw an exit. A stopped server (SIGSTOP, its loop left running) is the same to a client.
  it('restarts an XRootD that stops answering, and leaves the answering ones alone', async () => {
    const l = layout();
    const pic = rses.find((r) => r.name === 'PIC-DISK')!;
    const loop = runningPid(l.run, 'xrootd-PIC-DISK')!;
    const [server] = childrenOf(loop);
    expect(server).toBeGreaterThan(0);
    const others = rses.filter((r) => r !== pic).map((r) => childrenOf(runningPid(l.run, `xrootd-${r.name}`)!));

    process.kill(server!, 'SIGSTOP');
    const lines: string[] = [];
    const ac = new AbortController();
    const watching = watchXrootd(
      l,
      (x) => lines.push(x),
      { everyMs: 300, failures: 3, window: 5, probeTimeoutMs: 500, graceMs: 60_000 },
      ac.signal,
    );
    try {
      expect(await xrootdHealthy(l, pic, 500)).toBe(false);
      const deadline = Date.now() + 30_000;
      while (childrenOf(loop).includes(server!) && Date.now() < deadline) await sleep(200);
      expect(childrenOf(loop)).not.toContain(server);
      // The loop starts a new server a second after the old one is gone.
      while (!(await xrootdHealthy(l, pic)) && Date.now() < deadline) await sleep(200);
      expect(await xrootdHealthy(l, pic)).toBe(true);
    } finally {
      ac.abort();
      await watching;
      try {
        process.kill(server!, 'SIGCONT');
      } catch {
        /* killed, as expected */
      }
    }
    expect(lines.filter((x) => x.includes('no HTTP answer'))).toEqual([
      expect.stringContaining(`xrootd-PIC-DISK: no HTTP answer in 3 of its last 3 probes; killed ${server}`),
    ]);
    expect(rses.filter((r) => r !== pic).map((r) => childrenOf(runningPid(l.run, `xrootd-${r.name}`)!))).toEqual(
      others,
    );
  }, 60_000);
});
