/**
 * Temporal's own ceiling on this machine: workflows shaped like a file's lifecycle with no-op activities,
 * run by one worker in this process, as fast as the dev server takes them. What rucio-ingest is divided by.
 */
import { Client } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import pLimit from 'p-limit';
import { fileURLToPath } from 'node:url';

export const noopActivities = {
  async noop(): Promise<void> {},
};

export interface CeilingResult {
  workflow: string;
  workflows: number;
  wallSeconds: number;
  workflowsPerSecond: number;
  eventsPerWorkflow: number;
}

export async function temporalCeiling(
  client: Client,
  opts: { address: string; namespace: string; workflows: number; workflow: 'noopFile' | 'noopFileWithSteps' },
): Promise<CeilingResult> {
  const taskQueue = `ceiling-${Date.now().toString(36)}`;
  const connection = await NativeConnection.connect({ address: opts.address });
  const worker = await Worker.create({
    connection,
    namespace: opts.namespace,
    taskQueue,
    workflowsPath: fileURLToPath(new URL('./ceiling-workflows.ts', import.meta.url)),
    activities: noopActivities,
    // As the product's worker: its defaults for slots (see src/workers/worker.ts).
    maxConcurrentActivityTaskExecutions: 32,
  });
  const running = worker.run();
  try {
    const limit = pLimit(200);
    const t0 = Date.now();
    const ids = await Promise.all(
      Array.from({ length: opts.workflows }, (_, i) =>
        limit(async () => {
          const h = await client.workflow.start(opts.workflow, {
            taskQueue,
            workflowId: `${taskQueue}-${i}`,
            args: [],
          });
          await h.result();
          return h.workflowId;
        }),
      ),
    );
    const wallSeconds = (Date.now() - t0) / 1000;
    const first = await client.workflow.getHandle(ids[0]!).describe();
    return {
      workflow: opts.workflow,
      workflows: opts.workflows,
      wallSeconds: Math.round(wallSeconds * 10) / 10,
      workflowsPerSecond: Math.round((opts.workflows / wallSeconds) * 10) / 10,
      eventsPerWorkflow: first.historyLength,
    };
  } finally {
    worker.shutdown();
    await running;
    await connection.close();
  }
}
