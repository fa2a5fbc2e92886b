import { describe, expect, it } from 'vitest';
import { verifyChoiceFor } from '../../src/activities/verify-policy.js';

describe('per-RSE verification policy (ingest_verify attribute)', () => {
  it('defaults to the digest, reading back when none is offered unless the ingestion turned that off', () => {
    expect(verifyChoiceFor('SAFE-1', {})).toEqual({ policy: 'digest', readbackFallback: true, forceReadback: false });
    expect(verifyChoiceFor('SAFE-1', { QOS: 'SAFE' }, false)).toEqual({
      policy: 'digest',
      readbackFallback: false,
      forceReadback: false,
    });
  });

  it('readback always reads back; size never does', () => {
    expect(verifyChoiceFor('X', { ingest_verify: 'readback' }, false)).toMatchObject({
      readbackFallback: true,
      forceReadback: true,
    });
    expect(verifyChoiceFor('X', { ingest_verify: 'SIZE' })).toMatchObject({
      policy: 'size',
      readbackFallback: false,
      forceReadback: false,
    });
  });

  it('an unknown value is a permanent error naming the RSE and the values allowed', () => {
    expect(() => verifyChoiceFor('CHEAP-1', { ingest_verify: 'md5' })).toThrow(
      /RSE CHEAP-1 has ingest_verify=md5, which is not one of digest, readback, size/,
    );
  });
});
