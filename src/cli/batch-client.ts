import fs from 'node:fs';
import path from 'node:path';
import { once } from 'node:events';
import pLimit from 'p-limit';
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { batchWorkflowId, type BatchInput, type BatchState, type BatchStatus } from '../shared/batch-input.js';
import type { IngestInput } from '../shared/ingest-input.js';
import { saKeys } from '../workflows/search-attribute-keys.js';
import { innermostMessage } from './pending.js';
import { RequestError } from '../shared/request-error.js';

export interface BatchView {
  batchId: string;
  /** Temporal's status of the batch workflow: RUNNING, COMPLETED, CANCELLED, FAILED, TERMINATED... */
  execution: string;
  progress?: BatchStatus;
  /** Why there is no progress (no worker answered the query). */
  note?: string;
}

export interface FailedFile {
  workflowId: string;
  runId: string;
  did: string;
  reason: string;
  message?: string;
}

const quote = (v: string) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/** The batch's counts: from its result once completed (no worker needed), else from its query. */
export async function viewBatch(client: Client, batchId: string, queryTimeoutMs = 15_000): Promise<BatchView> {
  const handle = client.workflow.getHandle(batchWorkflowId(batchId));
  let desc;
  try {
    desc = await handle.describe();
  } catch (err) {
    if ((err as { name?: string }).name === 'WorkflowNotFoundError')
      throw new RequestError(`no batch ${batchId}: rucio-ingest batch list shows the batches`);
    throw err;
  }
  const execution = desc.status.name;
  if (execution === 'COMPLETED') return { batchId, execution, progress: (await handle.result()) as BatchStatus };
  try {
    // A deadline on the call itself, not a race beside it: a call left retrying in the background would fire
    // on a closed connection after the command is done.
    const progress = await client.withDeadline(Date.now() + queryTimeoutMs, () => handle.query<BatchStatus>('status'));
    return { batchId, execution, progress };
  } catch (err) {
    return {
      batchId,
      execution,
      note: `no worker answered on task queue ${desc.taskQueue} within ${queryTimeoutMs / 1000} s (${innermostMessage(err) ?? String(err)}): start one with 'rucio-ingest worker'`,
    };
  }
}

/** Files in flight per lifecycle step, from Temporal's visibility (the batch itself only counts ends). */
export async function stepCounts(client: Client, batchId: string): Promise<Record<string, number>> {
  const steps = ['queued', 'inspect', 'upload', 'register', 'replicate', 'verify', 'delete-origin'];
  const out: Record<string, number> = {};
  for (const step of steps) {
    const { count } = await client.workflow.count(
      `RucioBatch=${quote(batchId)} AND ExecutionStatus="Running" AND IngestStep=${quote(step)}`,
    );
    if (count > 0) out[step] = count;
  }
  return out;
}

/**
 * The batch's files whose latest run failed. Runs before the latest retry were all started again by it, so
 * only later runs count; each is checked against its workflow's latest run (a file may have been ingested
 * since by hand), which also skips older runs of one file without remembering every ID seen.
 */
export async function* failedFiles(
  client: Client,
  batchId: string,
  retriedAt?: string,
  withMessages = true,
): AsyncGenerator<FailedFile> {
  let query = `RucioBatch=${quote(batchId)} AND ExecutionStatus="Failed"`;
  if (retriedAt) query += ` AND StartTime >= ${quote(retriedAt)}`;
  const limit = pLimit(8);
  let chunk: FailedFile[] = [];
  const settle = async () => {
    const checked = await Promise.all(
      chunk.map((f) =>
        limit(async () => {
          const handle = client.workflow.getHandle(f.workflowId);
          const latest = await handle.describe();
          if (latest.status.name !== 'FAILED' || latest.runId !== f.runId) return undefined;
          if (withMessages)
            f.message = await handle.result().then(
              () => undefined,
              (err: unknown) => innermostMessage(err),
            );
          return f;
        }),
      ),
    );
    chunk = [];
    return checked.filter((f): f is FailedFile => f !== undefined);
  };
  for await (const w of client.workflow.list({ query })) {
    chunk.push({
      workflowId: w.workflowId,
      runId: w.runId,
      did: w.workflowId.replace(/^ingest\//, ''),
      reason: w.typedSearchAttributes.get(saKeys.problem) ?? 'error',
    });
    if (chunk.length >= 64) yield* await settle();
  }
  yield* await settle();
}

/** The first event's input of a run: what the workflow was started with. */
async function startInput<T>(client: Client, workflowId: string, runId?: string): Promise<T> {
  const res = await client.workflowService.getWorkflowExecutionHistory({
    namespace: client.options.namespace,
    execution: { workflowId, runId },
    maximumPageSize: 1,
  });
  const payload = res.history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  if (!payload) throw new Error(`cannot read the input of ${workflowId}`);
  return defaultPayloadConverter.fromPayload<T>(payload);
}

/**
 * Start the failed files of a finished batch again, and nothing else: a new run of the same batch workflow
 * pages through a retry manifest of their exact inputs, its counts carried over with the failed ones queued.
 */
export async function retryBatch(
  client: Client,
  batchId: string,
  stateDir: string,
): Promise<{ files: number; manifest: string; taskQueue: string }> {
  const view = await viewBatch(client, batchId);
  if (view.execution === 'RUNNING')
    throw new RequestError(`batch ${batchId} is still running: wait for it to end (or cancel it), then retry`);
  if (!view.progress) throw new RequestError(`batch ${batchId}: ${view.note ?? 'no status'}`);
  const prev = view.progress;
  const last = await startInput<BatchInput>(client, batchWorkflowId(batchId));
  const retries = (last.state?.retries ?? 0) + 1;
  const manifestPath = path.join(stateDir, 'batches', batchId, `retry-${retries}.jsonl`);
  fs.mkdirSync(path.dirname(manifestPath), { recursive: true });
  const out = fs.createWriteStream(manifestPath);
  let files = 0;
  const bytes = 0;
  const retriedAt = new Date().toISOString();
  for await (const f of failedFiles(client, batchId, prev.retriedAt, false)) {
    const input = await startInput<IngestInput>(client, f.workflowId, f.runId);
    files += 1;
    if (!out.write(`${JSON.stringify({ input, bytes: 0 })}\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  if (files === 0) {
    fs.rmSync(manifestPath, { force: true });
    throw new RequestError(`batch ${batchId} has no failed file to retry`);
  }
  const st = fs.statSync(manifestPath);
  const manifest = { path: manifestPath, files, bytes, size: st.size, mtimeMs: st.mtimeMs };
  const c = prev.counts;
  const state: BatchState = {
    offset: 0,
    eof: false,
    manifest,
    counts: { taken: c.taken - files, done: c.done, alreadyDone: c.alreadyDone, failed: 0, cancelled: c.cancelled },
    bytesDone: prev.bytesDone,
    failures: {},
    inFlight: {},
    startedAt: Date.now(),
    runs: prev.runs + 1,
    filesBefore: prev.total.files - files,
    bytesBefore: prev.total.bytes - bytes,
    retriedAt,
    retries,
  };
  await client.workflow.start('ingestBatch', {
    workflowId: batchWorkflowId(batchId),
    taskQueue: last.taskQueue,
    args: [{ ...last, manifest, state } satisfies BatchInput],
    typedSearchAttributes: [{ key: saKeys.batch, value: batchId }],
    staticSummary: `retry ${retries} of ${files} failed files: ${last.description}`,
  });
  return { files, manifest: manifestPath, taskQueue: last.taskQueue };
}
