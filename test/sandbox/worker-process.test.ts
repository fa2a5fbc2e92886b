import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { startIngest } from '../../src/cli/ingest.js';
import { pendingActivities } from '../../src/cli/pending.js';
import type { IngestResult } from '../../src/workflows/ingest-file.js';
import { fileInput, startLifecycle, tempDir, uniq, useSandboxEnv, writeRandomFile } from '../fixtures/ingest.js';
import { eraseTestFile, waitForStep } from '../fixtures/lifecycle-checks.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));

async function freePort(): Promise<number> {
  const srv = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => srv.once('listening', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** The production worker as an operator runs it: the built CLI, the pre-built workflow bundle. */
function startWorker(taskQueue: string, metrics: string): { child: ChildProcess; output: () => string } {
  let out = '';
  const child = spawn(
    process.execPath,
    ['bin/rucio-ingest.js', 'worker', '--task-queue', taskQueue, '--metrics', metrics],
    { cwd: repo, env: { ...process.env, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  return { child, output: () => out };
}

async function until(what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('the worker process (built CLI, real sandbox)', () => {
  const dir = tempDir();
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('runs the pre-built bundle, serves Prometheus metrics, and on SIGTERM lets a running upload finish', async () => {
    expect(fs.existsSync(`${repo}/dist/workflow-bundle.js`)).toBe(true); // built by `npm ci` (prepare)
    useSandboxEnv();
    const taskQueue = uniq('test-worker-process');
    const metrics = `127.0.0.1:${await freePort()}`;
    const { child, output } = startWorker(taskQueue, metrics);
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const client = await startLifecycle({ taskQueue: uniq('unused') }); // a client; its own worker idles
    let second: Awaited<ReturnType<typeof startLifecycle>> | undefined;
    try {
      await until('the worker to poll', () => /worker polling/.test(output()));
      // pino JSON lines on stderr, naming the workflow code it runs.
      const startLine = output()
        .split('\n')
        .find((l) => l.includes('"msg":"worker starting"'));
      expect(JSON.parse(startLine!)).toMatchObject({ name: 'rucio-ingest-worker', workflowCode: 'pre-built bundle' });

      const name = `${uniq('sigterm')}.dat`;
      const file = writeRandomFile(dir, name, 512 * 1024 * 1024);
      onTestFinished(() => eraseTestFile(file));
      const input = fileInput(file, { qos: ['1:SAFE-1'], dataset: 'user.demo:worker-process' });
      const { handle } = await startIngest(client.client, input, taskQueue);
      await waitForStep(handle, ['upload'], 120_000);

      const res = await fetch(`http://${metrics}/metrics`);
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text).toMatch(/^temporal_worker_task_slots_available\{.*task_queue="[^"]+".*\} \d+/m);
      expect(text).toContain(`task_queue="${taskQueue}"`);

      // SIGTERM while the upload runs.
      await until('the upload to start', async () =>
        pendingActivities(await handle.describe()).some((a) => a.activity === 'upload' && a.state === 'started'),
      );
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      // The upload that was running when SIGTERM came finished in the grace time: it was not retried.
      second = await startLifecycle({ taskQueue });
      const result = (await handle.result()) as IngestResult;
      expect(result.step).toBe('done');
      expect(result.attempts.upload).toBe(1);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await second?.stop();
      await client.stop();
    }
  }, 300_000);
});
