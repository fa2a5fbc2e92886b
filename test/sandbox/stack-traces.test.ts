import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IngestResult } from '../../src/workflows/ingest-file.js';
import { fileInput, startLifecycle, tempDir, uniq, writeRandomFile } from '../fixtures/ingest.js';

/**
 * The Web UI's "Stack Trace" tab is the SDK's `__stack_trace` query. A worker records promise stack traces
 * for it only when asked (RUCIO_INGEST_WORKFLOW_STACK_TRACES=1), through the switch that `patches/` adds to
 * SDK 1.24: this shows the patch applied by `npm ci` and the switch reaching the workflow threads.
 */
describe('workflow stack traces', () => {
  const dir = tempDir();
  let off: Awaited<ReturnType<typeof startLifecycle>>;
  let on: Awaited<ReturnType<typeof startLifecycle>>;

  beforeAll(async () => {
    off = await startLifecycle();
    on = await startLifecycle({ worker: { workflowStackTraces: true } });
  });
  afterAll(async () => {
    await off?.stop();
    await on?.stop();
  });

  const ingestOne = async (env: typeof off) => {
    const file = writeRandomFile(dir, `${uniq('stack')}.dat`, 2048);
    const { handle } = await env.start(fileInput(file, { qos: [] }));
    expect(((await handle.result()) as IngestResult).step).toBe('done');
    return handle;
  };

  it('are off by default: the query says so, the file is ingested all the same', async () => {
    const handle = await ingestOne(off);
    await expect(handle.query('__stack_trace')).rejects.toThrow(/stack traces are not enabled/);
  });

  it('are recorded when the worker is asked to', async () => {
    const handle = await ingestOne(on);
    await expect(handle.query('__stack_trace')).resolves.toEqual(expect.any(String));
  });
});
