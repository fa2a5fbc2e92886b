import { Command } from 'commander';
import type { Client } from '@temporalio/client';
import { CliWorker } from './cli-worker.js';
import { batchWorkflowId, type BatchStatus } from '../shared/batch-input.js';
import { failedFiles, retryBatch, stepCounts, viewBatch } from './batch-client.js';
import { summaryText } from './batch-view.js';
import { follow } from './ingest-batch.js';
import { stateDir } from './state-dir.js';
import { temporalTargetFromEnv, withClient } from './temporal-client.js';

type Json = { json?: boolean };

/** Run `fn` with a worker on the task queue: the one polling it, or one in this process. */
async function withCliWorker<T>(client: Client, taskQueue: string, json: boolean, fn: () => Promise<T>): Promise<T> {
  const say = (line: string) => {
    if (!json) console.error(line);
  };
  const worker = new CliWorker(client, temporalTargetFromEnv(), taskQueue, say, 'rucio-ingest-batch', 'the batch');
  try {
    await worker.ensure();
    return await fn();
  } finally {
    await worker.stop();
  }
}

export function batchCommand(): Command {
  const batch = new Command('batch').description('batches of files: list, status, failed files, retry, cancel');

  batch
    .command('list')
    .description('batches known to Temporal, newest first')
    .option('--limit <n>', 'at most this many', '50')
    .option('--json', 'machine-readable output')
    .action(async (o: Json & { limit: string }) =>
      withClient(async (client) => {
        const rows: Array<{ batchId: string; status: string; started: string; closed?: string }> = [];
        for await (const w of client.workflow.list({ query: 'WorkflowType="ingestBatch"' })) {
          rows.push({
            batchId: w.workflowId.replace(/^batch\//, ''),
            status: w.status.name,
            started: w.startTime.toISOString(),
            closed: w.closeTime?.toISOString(),
          });
          if (rows.length >= Number(o.limit)) break;
        }
        // A retried batch has several runs: show its latest.
        const latest = rows.filter((r, i) => rows.findIndex((x) => x.batchId === r.batchId) === i);
        if (o.json) console.log(JSON.stringify(latest, null, 2));
        else if (latest.length === 0) console.log('no batch yet: rucio-ingest ingest <directory|manifest> ...');
        else
          for (const r of latest)
            console.log(`${r.batchId}  ${r.status}  started ${r.started}${r.closed ? `  closed ${r.closed}` : ''}`);
      }),
    );

  batch
    .command('status')
    .description("a batch's counts per outcome and per step, bytes, rate, failures by reason")
    .argument('<id>', 'batch ID')
    .option('--json', 'machine-readable output')
    .action(async (id: string, o: Json) =>
      withClient(async (client) => {
        const v = await viewBatch(client, id);
        const steps = v.execution === 'RUNNING' ? await stepCounts(client, id) : {};
        if (o.json) console.log(JSON.stringify({ ...v, steps }, null, 2));
        else {
          console.log(`${batchWorkflowId(id)}: ${v.execution}`);
          if (v.progress) console.log(summaryText(v.progress, client.options.namespace));
          if (v.note) console.log(`  (${v.note})`);
          const inSteps = Object.entries(steps);
          if (inSteps.length > 0)
            console.log(`  in flight by step: ${inSteps.map(([s, n]) => `${s} ${n}`).join(', ')}`);
        }
      }),
    );

  batch
    .command('failed')
    .description('each failed file of a batch: workflow ID, DID, reason')
    .argument('<id>', 'batch ID')
    .option('--json', 'JSON lines, one file a line')
    .action(async (id: string, o: Json) =>
      withClient(async (client) => {
        const v = await viewBatch(client, id);
        let n = 0;
        for await (const f of failedFiles(client, id, v.progress?.retriedAt)) {
          n += 1;
          if (o.json) console.log(JSON.stringify(f));
          else console.log(`${f.workflowId}  ${f.reason}  ${f.message ?? ''}`);
        }
        if (!o.json)
          console.error(
            `${n} failed file(s)${n > 0 ? `; once the causes are fixed: rucio-ingest batch retry ${id}` : ''}`,
          );
      }),
    );

  batch
    .command('retry')
    .description('start the failed files of a finished batch again, and nothing else')
    .argument('<id>', 'batch ID')
    .option('--wait', 'follow the retry to its end')
    .option('--json', 'machine-readable output')
    .action(async (id: string, o: Json & { wait?: boolean }) => {
      const target = temporalTargetFromEnv();
      process.exitCode = await withClient(async (client) => {
        const r = await retryBatch(client, id, stateDir());
        if (!o.json) console.error(`batch ${id}: retrying ${r.files} failed file(s)`);
        if (!o.wait) {
          if (o.json) console.log(JSON.stringify({ batchId: id, retrying: r.files }));
          return 0;
        }
        return withCliWorker(client, r.taskQueue, !!o.json, () => follow(client, id, target, !!o.json));
      });
    });

  batch
    .command('cancel')
    .description('stop starting files and cancel those in flight, leaving none half-done')
    .argument('<id>', 'batch ID')
    .option('--wait', 'wait until every file in flight has stopped and cleaned up')
    .option('--json', 'machine-readable output')
    .action(async (id: string, o: Json & { wait?: boolean }) =>
      withClient(async (client) => {
        const handle = client.workflow.getHandle(batchWorkflowId(id));
        const { taskQueue } = await handle.describe();
        await handle.cancel();
        if (!o.json) console.error(`batch ${id}: cancel requested; files in flight stop and clean up`);
        if (!o.wait) return;
        // The files clean up on a worker: this command runs one if none polls the batch's task queue.
        await withCliWorker(client, taskQueue, !!o.json, async () => {
          for (;;) {
            const d = await handle.describe();
            if (d.status.name !== 'RUNNING') break;
            await new Promise((r) => setTimeout(r, 1000));
          }
          const v = await viewBatch(client, id);
          if (o.json) console.log(JSON.stringify(v.progress satisfies BatchStatus | undefined, null, 2));
          else if (v.progress) console.log(summaryText(v.progress, client.options.namespace));
        });
      }),
    );
  return batch;
}
