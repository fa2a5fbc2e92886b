/**
 * What starting a batch's files costs Temporal, by how they are started: as child workflows of the batch
 * (rucio-ingest before 2026-12-06), by the worker in a regular activity, or in a local activity (now),
 * with or without eager workflow start. No-op files shaped like a landing-only file; CPU from /proc.
 *
 * Run with the sandbox up: npx tsx bench/batch-starts.ts [--files 1000] [--window 64] [--rounds 2]
 *   [--variants children,activity,local,local-eager] [--steps 0]   (steps: 0, 1 or 2 step upserts a file)
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { layout } from '../src/sandbox/layout.js';
import { temporalAddress, temporalNamespace } from '../src/sandbox/temporal.js';
import { noopActivities } from './ceiling.js';
import { cpuSeconds, cpuSnapshot, sandboxRoots } from './cpu.js';
import type { StartShape } from './batch-starts-workflows.js';

const { values: args } = parseArgs({
  options: {
    files: { type: 'string', default: '1000' },
    window: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '2' },
    variants: { type: 'string', default: 'children,activity,local,local-eager' },
    steps: { type: 'string', default: '0' },
  },
});
const files = Number(args.files);
const taskQueue = `batch-starts-${Date.now().toString(36)}`;

const connection = await Connection.connect({ address: temporalAddress });
const client = new Client({ connection, namespace: temporalNamespace });
const native = await NativeConnection.connect({ address: temporalAddress });
// Eager start needs the worker's own connection: the first workflow task comes back with the start.
const eagerClient = new Client({ connection: native, namespace: temporalNamespace });
let eagerlyStarted = 0;

const pending = new Map<string, number>();
let flushTimer: NodeJS.Timeout | undefined;
export const startActivities = {
  ...noopActivities,
  /** One `ended` signal per batch for the files ending within 25 ms (as rucio-ingest's reports). */
  async report(batch: string): Promise<void> {
    pending.set(batch, (pending.get(batch) ?? 0) + 1);
    flushTimer ??= setTimeout(() => {
      flushTimer = undefined;
      const all = [...pending];
      pending.clear();
      for (const [b, k] of all) void client.workflow.getHandle(b).signal('ended', k);
    }, 25);
  },
  async startFiles(a: { batch: string; first: number; count: number; eager: boolean; steps: number }): Promise<void> {
    const c = a.eager ? eagerClient : client;
    const handles = await Promise.all(
      Array.from({ length: a.count }, (_, j) =>
        c.workflow.start('noopFile', {
          taskQueue,
          workflowId: `${a.batch}-${a.first + j}`,
          args: [a.batch, a.steps],
          requestEagerStart: a.eager,
        }),
      ),
    );
    eagerlyStarted += handles.filter((h) => h.eagerlyStarted).length;
  },
};

const worker = await Worker.create({
  connection: native,
  namespace: temporalNamespace,
  taskQueue,
  workflowsPath: fileURLToPath(new URL('./batch-starts-workflows.ts', import.meta.url)),
  activities: startActivities,
  maxConcurrentActivityTaskExecutions: 32,
});
const running = worker.run();
const roots = sandboxRoots(layout().run);
try {
  for (let round = 1; round <= Number(args.rounds); round++) {
    for (const variant of args.variants.split(',')) {
      const how = variant.replace(/-eager$/, '') as StartShape['how'];
      const shape: StartShape = {
        files,
        window: Number(args.window),
        how,
        eager: variant.endsWith('-eager'),
        steps: Number(args.steps),
      };
      eagerlyStarted = 0;
      const before = cpuSnapshot(roots);
      const cpu0 = process.cpuUsage();
      const t0 = Date.now();
      await client.workflow.execute('noopBatch', {
        taskQueue,
        workflowId: `${taskQueue}-${variant}-${round}`,
        args: [shape],
      });
      const wall = (Date.now() - t0) / 1000;
      const temporal = cpuSeconds(before, cpuSnapshot(roots)).temporal ?? 0;
      const cpu = process.cpuUsage(cpu0);
      console.log(
        JSON.stringify({
          bench: 'batch-starts',
          round,
          variant,
          steps: shape.steps,
          files,
          filesPerSecond: Math.round((files / wall) * 10) / 10,
          temporalCpuMsPerFile: Math.round((temporal * 1000 * 10) / files) / 10,
          workerCpuMsPerFile: Math.round(((cpu.user + cpu.system) / 1000 / files) * 10) / 10,
          eagerlyStarted,
        }),
      );
    }
  }
} finally {
  worker.shutdown();
  await running;
  await native.close();
  await connection.close();
}
