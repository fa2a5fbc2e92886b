import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { Coalescer } from '../rucio/coalescer.js';
import type { FileReport } from '../shared/batch-input.js';
import { filesFinished } from '../workflows/batch-signals.js';

/**
 * How files tell their batch they ended. Files in flight on one worker share one signal per batch
 * (`filesFinished`, up to 500 reports): the batch runs one workflow task for many files, where a signal
 * from each file's workflow cost the file two events and a workflow task, and the batch a task per file.
 * The coalescer comes from the Rucio client; it is generic (gather per key, one call, each caller its answer).
 */
export function createReportActivities(deps: { client: Client }) {
  const signals = new Coalescer<FileReport, void>({
    // A report waits up to 25 ms for others to the same batch, as the Rucio bulk calls do.
    windowMs: 25,
    maxItems: 500,
    // One signal of a batch at a time: the others gather meanwhile.
    maxInFlight: 1,
    identity: (r) => r.workflowId,
    flush: async (batchWorkflowId, reports) => {
      await deps.client.workflow.getHandle(batchWorkflowId).signal(filesFinished, reports);
      return reports.map(() => undefined);
    },
    // Whatever fails, fails every report of the signal alike: each caller retries or gives up on its own.
    isTransient: () => true,
  });
  return {
    /**
     * Deliver one file's report to its batch (by workflow ID: the batch continues-as-new). A batch that has
     * ended (terminated) is not an error of the file: it is said, not thrown. The batch ignores a report it
     * already has, so a repeated delivery (a workflow task retried after this ran) changes nothing.
     */
    async reportToBatch(input: { batchWorkflowId: string; report: FileReport }): Promise<{ delivered: boolean }> {
      try {
        await signals.submit(input.batchWorkflowId, input.report);
        return { delivered: true };
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return { delivered: false };
        throw err;
      }
    },
  };
}

export type ReportActivities = ReturnType<typeof createReportActivities>;
