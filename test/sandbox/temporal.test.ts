import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { greeting } from '../fixtures/workflows.js';
import { startTestWorker } from '../fixtures/temporal.js';

describe('Temporal dev server of the sandbox', () => {
  const taskQueue = `test-roundtrip-${randomUUID()}`;
  let env: Awaited<ReturnType<typeof startTestWorker>>;
  beforeAll(async () => {
    env = await startTestWorker(taskQueue);
  });
  afterAll(async () => env?.stop());

  it('runs a workflow with an activity round trip', async () => {
    const result = await env.client.workflow.execute(greeting, {
      taskQueue,
      workflowId: `roundtrip-${randomUUID()}`,
      args: ['sandbox'],
    });
    expect(result).toBe('hello sandbox from greet');
  });

  it('has the project search attributes and a long retention', async () => {
    const ns = await env.client.connection.workflowService.describeNamespace({ namespace: 'default' });
    const retentionSeconds = Number(ns.config?.workflowExecutionRetentionTtl?.seconds ?? 0);
    expect(retentionSeconds).toBeGreaterThanOrEqual(7 * 24 * 3600);
    const sa = await env.client.connection.operatorService.listSearchAttributes({ namespace: 'default' });
    expect(Object.keys(sa.customAttributes ?? {})).toEqual(
      expect.arrayContaining(['RucioScope', 'RucioDataset', 'LandingRse', 'IngestStep']),
    );
  });
});
