import { describe, expect, it } from 'vitest';
import {
  companionSuffixes,
  describeWaiting,
  hasRules,
  markerSuffixes,
  readiness,
} from '../../src/policy/completeness.js';

const now = 1_800_000_000_000;
/** The companion files found next to the file, by suffix. */
const having = (...suffixes: string[]) => new Set(suffixes);
const file = (ageSeconds: number) => ({ path: '/d/f.dat', mtimeMs: now - ageSeconds * 1000 });

describe('completeness rules', () => {
  it('takes every file when no rule is set', async () => {
    expect(hasRules({})).toBe(false);
    expect(readiness(file(0), {}, now, having())).toEqual({ ready: true });
  });

  it('settle: waits while the file was written to within the settle time', async () => {
    const rules = { settleSeconds: 60 };
    expect(readiness(file(59), rules, now, having())).toEqual({ ready: false, why: 'settling' });
    expect(readiness(file(60), rules, now, having())).toEqual({ ready: true });
  });

  it('trigger: waits for <file><suffix>, names it for removal, and is not data itself', async () => {
    const rules = { triggerSuffix: '.trigger' };
    expect(markerSuffixes(rules)).toEqual(['.trigger']);
    expect(companionSuffixes({ ...rules, requiredSidecar: '.meta' })).toEqual(['.trigger', '.meta']);
    expect(readiness(file(0), rules, now, having())).toEqual({ ready: false, why: 'no-trigger' });
    expect(readiness(file(0), rules, now, having('.trigger'))).toEqual({
      ready: true,
      trigger: '/d/f.dat.trigger',
    });
  });

  it('sidecar: waits for the metadata sidecar', async () => {
    const rules = { requiredSidecar: '.meta' };
    expect(readiness(file(0), rules, now, having())).toEqual({ ready: false, why: 'no-sidecar' });
    expect(readiness(file(0), rules, now, having('.meta'))).toEqual({ ready: true });
  });

  it('a file written on after its trigger appeared still waits for the settle time', async () => {
    const rules = { triggerSuffix: '.trigger', settleSeconds: 30 };
    expect(readiness(file(5), rules, now, having('.trigger'))).toEqual({
      ready: false,
      why: 'settling',
    });
  });

  it('says what waits, by reason', () => {
    expect(describeWaiting({})).toBe('');
    expect(describeWaiting({ 'no-trigger': 2, settling: 1 })).toBe(
      '2 no trigger file yet, 1 written to within the settle time',
    );
  });
});
