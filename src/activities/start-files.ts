import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy, type Client } from '@temporalio/client';
import pLimit from 'p-limit';
import { currentFlow } from '../shared/ingest-input.js';
import { batchFileAttributes, saKeys } from '../workflows/search-attribute-keys.js';
import type { PageItem } from './batch.js';

/** How a batch's start of one file went. */
export interface FileStart {
  workflowId: string;
  /**
   * started: runs for this batch (now, or by an earlier attempt of the same start: it reports here);
   * completed: by this batch already (an earlier attempt started it, and it has ended);
   * attached: another batch's or command's run of the file is in flight (it will not report here);
   * done-before: completed by another batch or command; failed: could not be started (`problem` says why).
   */
  outcome: 'started' | 'completed' | 'attached' | 'done-before' | 'failed';
  problem?: string;
}

/** Starts in flight at once from one call: the dev server takes about this many without queueing. */
const startConcurrency = 16;

/**
 * The batch's file workflows, started by the worker through the client rather than as children of the
 * batch: a child costs the batch three history events (initiated, started, completed) and the server the
 * bookkeeping between the two workflows (bench/batch-starts.ts: 50.7 against 32.3 ms of Temporal CPU a
 * no-op file), while a call here costs the batch one marker for every file it starts at once. The files
 * report their end to `reportTo` themselves, as children did.
 */
export function createStartActivities(deps: { client: Client }) {
  return {
    async startFiles(input: {
      items: PageItem[];
      taskQueue: string;
      batchId: string;
      /** The batch's workflow ID, where each file reports its end. */
      reportTo: string;
    }): Promise<FileStart[]> {
      const limit = pLimit(startConcurrency);
      return Promise.all(input.items.map((item) => limit(() => startOne(deps.client, input, item))));
    },
  };
}

async function startOne(
  client: Client,
  batch: { taskQueue: string; batchId: string; reportTo: string },
  item: PageItem,
): Promise<FileStart> {
  const { workflowId } = item;
  try {
    await client.workflow.start('ingestFile', {
      workflowId,
      taskQueue: batch.taskQueue,
      args: [{ ...item.input, reportTo: batch.reportTo, flow: currentFlow }],
      // The lifecycle's own rule: a failed file may run again, a completed one never.
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
      typedSearchAttributes: batchFileAttributes(item.input, batch.batchId, 'upload'),
      staticSummary: item.summary,
      // The first workflow task comes back with the start, to this worker when it has a free slot: no trip
      // through the task queue, and the batch's own tasks do not queue behind a burst of new files there.
      requestEagerStart: true,
    });
    return { workflowId, outcome: 'started' };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err; // Temporal unreachable: retried
  }
  // Running or completed before: by this batch (an earlier attempt of this call, whose answer was lost) or
  // by another batch or command. The batch search attribute tells which.
  const d = await client.workflow.getHandle(workflowId).describe();
  const ours = d.typedSearchAttributes.get(saKeys.batch) === batch.batchId;
  if (d.status.name === 'RUNNING') return { workflowId, outcome: ours ? 'started' : 'attached' };
  if (d.status.name === 'COMPLETED') return { workflowId, outcome: ours ? 'completed' : 'done-before' };
  // Failed runs are started again (the reuse policy); a conflict here is a run that ended between the two calls.
  return { workflowId, outcome: 'failed', problem: d.typedSearchAttributes.get(saKeys.problem) ?? 'StartFailed' };
}

export type StartActivities = ReturnType<typeof createStartActivities>;
