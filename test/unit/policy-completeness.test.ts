import { describe, expect, it } from 'vitest';
import { hasRules, markerSuffixes, readiness } from '../../src/policy/completeness.js';

const now = 1_800_000_000_000;
const existing = (paths: string[]) => async (p: string) => paths.includes(p);
const file = (ageSeconds: number) => ({ path: '/d/f.dat', mtimeMs: now - ageSeconds * 1000 });

describe('completeness rules', () => {
  it('takes every file when no rule is set', async () => {
    expect(hasRules({})).toBe(false);
    expect(await readiness(file(0), {}, now, existing([]))).toEqual({ ready: true });
  });

  it('settle: waits while the file was written to within the settle time', async () => {
    const rules = { settleSeconds: 60 };
    expect(await readiness(file(59), rules, now, existing([]))).toEqual({ ready: false, why: 'settling' });
    expect(await readiness(file(60), rules, now, existing([]))).toEqual({ ready: true });
  });

  it('trigger: waits for <file><suffix>, names it for removal, and is not data itself', async () => {
    const rules = { triggerSuffix: '.trigger' };
    expect(markerSuffixes(rules)).toEqual(['.trigger']);
    expect(await readiness(file(0), rules, now, existing([]))).toEqual({ ready: false, why: 'no-trigger' });
    expect(await readiness(file(0), rules, now, existing(['/d/f.dat.trigger']))).toEqual({
      ready: true,
      trigger: '/d/f.dat.trigger',
    });
  });

  it('sidecar: waits for the metadata sidecar', async () => {
    const rules = { requiredSidecar: '.meta' };
    expect(await readiness(file(0), rules, now, existing([]))).toEqual({ ready: false, why: 'no-sidecar' });
    expect(await readiness(file(0), rules, now, existing(['/d/f.dat.meta']))).toEqual({ ready: true });
  });

  it('a file written on after its trigger appeared still waits for the settle time', async () => {
    const rules = { triggerSuffix: '.trigger', settleSeconds: 30 };
    expect(await readiness(file(5), rules, now, existing(['/d/f.dat.trigger']))).toEqual({
      ready: false,
      why: 'settling',
    });
  });
});
