import { describe, expect, it } from 'vitest';
import { classify, transportError } from '../../src/rucio/errors.js';

describe('Rucio error classification', () => {
  it('decides on ExceptionClass before the status', () => {
    expect(classify(409, 'DataIdentifierAlreadyExists')).toBe('already-done');
    expect(classify(409, 'DuplicateRule')).toBe('already-done');
    expect(classify(500, 'DatabaseException')).toBe('retryable');
    expect(classify(409, 'ReplicationRuleCreationTemporaryFailed')).toBe('retryable');
    expect(classify(401, 'AccessDenied')).toBe('permanent');
    expect(classify(400, 'InvalidObject')).toBe('permanent');
    expect(classify(500, 'InvalidObject')).toBe('permanent');
    expect(classify(500, 'SomethingNew')).toBe('retryable');
    expect(classify(400, 'InvalidRSEExpression')).toBe('permanent');
    expect(classify(404, 'DataIdentifierNotFound')).toBe('permanent');
  });

  it('retries gateway errors that carry no ExceptionClass', () => {
    expect(classify(502, undefined)).toBe('retryable');
    expect(classify(503, undefined)).toBe('retryable');
    expect(classify(504, undefined)).toBe('retryable');
    expect(classify(400, undefined)).toBe('permanent');
  });

  it('retries refused and reset connections', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    expect(transportError(refused, 'GET /ping').kind).toBe('retryable');
    expect(transportError(refused, 'GET /ping').message).toMatch(/is the Rucio server running/);
    const reset = { message: 'other side closed', code: 'UND_ERR_SOCKET' };
    expect(transportError(reset, 'GET /x').retryable).toBe(true);
    expect(transportError(new Error('certificate has expired'), 'GET /x').retryable).toBe(false);
  });

  it('retries timeouts (connect, headers, body)', () => {
    for (const code of ['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']) {
      expect(transportError({ message: 'timed out', code }, 'POST /replicas').kind).toBe('retryable');
    }
  });
});
