import { ApplicationFailure, ParentClosePolicy, proxyActivities, startChild, workflowInfo } from '@temporalio/workflow';
import type { ScanActivities } from '../activities/scan.js';
import type { BatchInput, BatchStatus } from '../shared/batch-input.js';
import type { ScanInput, ScanResult } from '../shared/scan-input.js';
import { ingestBatch } from './ingest-batch.js';
import { saKeys } from './search-attribute-keys.js';

const act = proxyActivities<ScanActivities>({
  // A walk of a large tree over NFS takes a while; a worker lost mid-walk is noticed by the heartbeat-less
  // timeout, and the walk starts over (it writes nothing that counts until its batch has started).
  startToCloseTimeout: '30m',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '2m', maximumAttempts: 10 },
});

/**
 * A schedule's action: scan the watched directory and ingest what is new and complete as one batch, then
 * wait for that batch, so the schedule's overlap policy keeps two scans of one directory from running at
 * once. The scan fails when files of its batch failed: the schedule shows it, and `--pause-on-failure` stops.
 */
export async function scanDirectory(input: ScanInput): Promise<ScanResult> {
  const info = workflowInfo();
  const plan = await act.planScan(input, info.workflowId, info.startTime.getTime());
  if (!plan.manifest) {
    await act.commitScan(input);
    return { files: 0, waiting: plan.waiting, seen: plan.seen };
  }
  const batch: BatchInput = {
    batchId: plan.batchId,
    manifest: plan.manifest,
    template: input.template,
    taskQueue: input.taskQueue,
    concurrency: input.concurrency,
    pageSize: input.pageSize,
    description: plan.description,
  };
  const child = await startChild(ingestBatch, {
    workflowId: `batch/${plan.batchId}`,
    args: [batch],
    taskQueue: input.taskQueue,
    // The batch outlives a scan that is terminated: its files are in flight.
    parentClosePolicy: ParentClosePolicy.ABANDON,
    typedSearchAttributes: [
      { key: saKeys.batch, value: plan.batchId },
      { key: saKeys.scope, value: input.namespace.scope },
    ],
    staticSummary: plan.description,
  });
  await act.commitScan(input);
  const status: BatchStatus = await child.result();
  const result: ScanResult = {
    batchId: plan.batchId,
    files: plan.manifest.files,
    waiting: plan.waiting,
    seen: plan.seen,
    batch: status,
  };
  if (status.counts.failed > 0)
    throw ApplicationFailure.create({
      message: `${status.counts.failed} of ${plan.manifest.files} files of batch ${plan.batchId} failed: see rucio-ingest batch failed ${plan.batchId}`,
      type: 'FilesFailed',
      nonRetryable: true,
      details: [result],
    });
  return result;
}
