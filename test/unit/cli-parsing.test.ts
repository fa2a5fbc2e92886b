import { describe, expect, it } from 'vitest';
import { buildInput, parseMeta, parseQos } from '../../src/cli/ingest.js';
import { workflowIdFor } from '../../src/shared/ingest-input.js';
import { RequestError, wholeNumberIn } from '../../src/shared/request-error.js';
import { defaultMaxActivities, workerConfigFromEnv } from '../../src/workers/worker.js';

const base = {
  scope: 'magic',
  dataset: 'magic:raw_20261121',
  container: [],
  rse: 'LANDING-1',
  qos: ['2:QOS=SAFE', '1:QOS=CHEAP-ANALYSIS:86400'],
  meta: ['telescope=M1', 'run=5093174', 'calibrated=false'],
  mode: 'direct' as const,
  nameRule: 'keep' as const,
  md5: true,
  ruleDeadline: '3600',
  taskQueue: 'q',
};

describe('CLI input', () => {
  it('parses QoS targets', () => {
    expect(parseQos('2:QOS=SAFE')).toEqual({
      copies: 2,
      rseExpression: 'QOS=SAFE',
      grouping: 'NONE',
      lifetime: undefined,
    });
    expect(parseQos('1:QOS=CHEAP-ANALYSIS:86400').lifetime).toBe(86400);
    expect(() => parseQos('QOS=SAFE')).toThrow(/COPIES:RSE_EXPRESSION/);
    expect(parseQos('2:QOS=SAFE&tier=1,deadline=7200,grouping=DATASET,lifetime=600')).toEqual({
      copies: 2,
      rseExpression: 'QOS=SAFE&tier=1',
      grouping: 'DATASET',
      lifetime: 600,
      deadlineSeconds: 7200,
    });
    expect(() => parseQos('2:QOS=SAFE,deadline=soon')).toThrow(/cannot read "deadline=soon"/);
    expect(() => parseQos('2:QOS=SAFE,grouping=SOME')).toThrow(/grouping=ALL\|DATASET\|NONE/);
  });

  it('types metadata values', () => {
    expect(parseMeta(['a=1', 'b=x', 'c=true', 'd=', 'e=1e3x'])).toEqual({ a: 1, b: 'x', c: true, d: '', e: '1e3x' });
    expect(() => parseMeta(['novalue'])).toThrow(/KEY=VALUE/);
  });

  it('builds a validated request with the file name as DID name', () => {
    const input = buildInput('/data/20261121_M1_05093174.001_Y_CrabNebula-W0.40.root', base);
    expect(input.did).toEqual({ scope: 'magic', name: '20261121_M1_05093174.001_Y_CrabNebula-W0.40.root' });
    expect(input.source).toEqual({ kind: 'local', path: '/data/20261121_M1_05093174.001_Y_CrabNebula-W0.40.root' });
    expect(input.qos).toHaveLength(2);
    expect(input.allowEmpty).toBe(false);
    expect(input.metadata.original_name).toBeUndefined();
    expect(workflowIdFor(input.did)).toBe('ingest/magic:20261121_M1_05093174.001_Y_CrabNebula-W0.40.root');
  });

  it('sanitizes names Rucio refuses when asked, keeping the original name in metadata', () => {
    const raw = '/data/20261121_M1_05093174.001_D_CrabNebula-W0.40+035.root';
    expect(() => buildInput(raw, base)).toThrow(/--name-rule sanitize/);
    const input = buildInput(raw, { ...base, nameRule: 'sanitize' });
    expect(input.did.name).toBe('20261121_M1_05093174.001_D_CrabNebula-W0.40_035.root');
    expect(input.metadata.original_name).toBe('20261121_M1_05093174.001_D_CrabNebula-W0.40+035.root');
    expect(buildInput('/data/.hidden', { ...base, nameRule: 'sanitize' }).did.name).toBe('f.hidden');
  });

  it('refuses names Rucio refuses, before anything starts', () => {
    expect(() => buildInput('/data/has space.root', base)).toThrow(/DID name/);
    expect(() => buildInput('/data/.hidden', base)).toThrow(/DID name/);
    expect(() => buildInput('/data/x', { ...base, dataset: 'nocolon' })).toThrow(/SCOPE:NAME/);
  });
});

describe('whole-number options', () => {
  it('takes a whole number in range, the default when absent, and refuses the rest saying which option', () => {
    expect(wholeNumberIn('200', '--max-workflow-tasks', 2, 10_000, 40)).toBe(200);
    expect(wholeNumberIn(undefined, '--max-workflow-tasks', 2, 10_000, 40)).toBe(40);
    for (const bad of ['abc', '1', '2.5', '10001'])
      expect(() => wholeNumberIn(bad, '--max-workflow-tasks', 2, 10_000, 40)).toThrow(
        new RequestError(`--max-workflow-tasks ${bad}: expected a whole number from 2 to 10000`),
      );
  });

  it("checks a worker's slots from the environment too (an embedded worker has no flags)", () => {
    expect(workerConfigFromEnv({}).maxConcurrentActivities).toBe(defaultMaxActivities);
    expect(workerConfigFromEnv({ RUCIO_INGEST_MAX_ACTIVITIES: '8' }).maxConcurrentActivities).toBe(8);
    expect(() => workerConfigFromEnv({ RUCIO_INGEST_MAX_ACTIVITIES: 'lots' })).toThrow(
      new RequestError('RUCIO_INGEST_MAX_ACTIVITIES lots: expected a whole number from 1 to 10000'),
    );
    expect(() => workerConfigFromEnv({ RUCIO_INGEST_MAX_WORKFLOW_TASKS: '0' })).toThrow(
      /RUCIO_INGEST_MAX_WORKFLOW_TASKS 0/,
    );
  });
});
