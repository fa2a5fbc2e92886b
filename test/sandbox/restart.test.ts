import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { addReplicas, listReplicas } from '../../src/rucio/replicas.js';
import { sandboxRucioClient } from '../../src/sandbox/bootstrap.js';
import { down, status, up } from '../../src/sandbox/sandbox.js';
import { startTestWorker } from '../fixtures/temporal.js';
import { held, release } from '../fixtures/workflows.js';

describe('sandbox down then up', () => {
  it('keeps Temporal workflows and Rucio catalogue entries', async () => {
    const taskQueue = `test-restart-${randomUUID()}`;
    const workflowId = `restart-${randomUUID()}`;
    const file = { scope: 'user.demo', name: `restart-${randomUUID()}.dat`, bytes: 10, adler32: '0d4a01f1' };

    let env = await startTestWorker(taskQueue);
    await env.client.workflow.start(held, { taskQueue, workflowId });
    const before = sandboxRucioClient();
    await addReplicas(before, 'LANDING-1', [file]);
    await before.close();
    await env.stop();

    const log: string[] = [];
    await down((l) => log.push(l));
    expect((await status()).filter((p) => p.pid !== undefined)).toEqual([]);
    await up((l) => log.push(l));
    expect((await status()).every((p) => p.healthy)).toBe(true);

    env = await startTestWorker(taskQueue);
    try {
      const handle = env.client.workflow.getHandle(workflowId);
      expect((await handle.describe()).status.name).toBe('RUNNING');
      await handle.signal(release, 'after-restart');
      expect(await handle.result()).toBe('hello after-restart from greet');
    } finally {
      await env.stop();
    }

    const after = sandboxRucioClient();
    const found = [];
    for await (const r of listReplicas(after, [file])) found.push(r);
    await after.close();
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ name: file.name, adler32: file.adler32 });
  });
});
