import { describe, expect, it } from 'vitest';
import { recordProbe } from '../../src/sandbox/xrootd-watchdog.js';

/** Feed probe outcomes (true: unanswered) in order; the index of each restart. */
function restarts(outcomes: boolean[], opts = { failures: 3, window: 5 }): number[] {
  let latest: boolean[] = [];
  const out: number[] = [];
  outcomes.forEach((missed, i) => {
    const r = recordProbe(latest, missed, opts);
    latest = r.keep;
    if (r.restart) out.push(i);
  });
  return out;
}

describe('the XRootD watchdog counts unanswered probes within a window', () => {
  it('restarts a storage that stops answering at the third miss', () => {
    expect(restarts([false, true, true, true])).toEqual([3]);
  });

  it('restarts one that answers a probe now and then (a single answer does not reset the count)', () => {
    expect(restarts([true, true, false, true, false, true])).toEqual([3]);
  });

  it('leaves alone one that misses a probe now and then', () => {
    expect(restarts([true, false, false, false, true, false, false, false, true, false, false, false])).toEqual([]);
  });

  it('counts again from nothing after a restart', () => {
    expect(restarts([true, true, true, true, true])).toEqual([2]);
  });
});
