import fs from 'node:fs';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { planBatch } from '../planning/plan-batch.js';
import { commitLedger, ScanLedger } from '../planning/scan-ledger.js';
import { fileSummary } from '../shared/file-summary.js';
import { RequestError } from '../shared/request-error.js';
import { batchIdOfScan, ledgerPathsOf, type ScanInput, type ScanPlan } from '../shared/scan-input.js';
import type { WaitReason } from '../policy/completeness.js';

/**
 * A schedule's scan, on a worker: walk the watched directory beside the schedule's ledger, write the
 * manifest of what is new and complete, and the ledger that will hold it once its batch has started.
 */
export function createScanActivities() {
  return {
    async planScan(input: ScanInput, workflowId: string, startedAtMs: number): Promise<ScanPlan> {
      const batchId = batchIdOfScan(input.schedule, workflowId, new Date(startedAtMs));
      const paths = ledgerPathsOf(input);
      fs.mkdirSync(path.dirname(paths.ledger), { recursive: true });
      const ledger = await ScanLedger.open(paths.ledger, paths.next);
      const waiting: Partial<Record<WaitReason, number>> = {};
      try {
        const manifest = await planBatch({
          sources: [input.directory],
          namespace: input.namespace,
          metadata: input.metadata,
          excludeSuffixes: input.excludeSuffixes,
          manifestPath: path.join(input.stateDir, 'batches', batchId, 'manifest.jsonl'),
          completeness: input.completeness,
          ...(input.origin ? { originRse: input.origin.rse, originUrl: input.origin.url } : {}),
          waiting,
          ledger,
          emptyOk: true,
        });
        const counts = await ledger.finish();
        const summary = fileSummary(input.template, manifest.bytes);
        return {
          batchId,
          ...(manifest.files > 0 ? { manifest } : {}),
          description: `schedule ${input.schedule}: ${manifest.files} new files of ${input.directory}, ${summary}`,
          waiting,
          seen: counts.seen,
          dropped: counts.dropped,
        };
      } catch (err) {
        ledger.abort();
        // Names that clash or that Rucio refuses: the same scan would refuse them again, so do not retry.
        if (err instanceof RequestError)
          throw ApplicationFailure.create({ message: err.message, type: 'ScanRefused', nonRetryable: true });
        throw err;
      }
    },

    /** The scan's batch has started: its files are the ledger's now (idempotent). */
    async commitScan(input: ScanInput): Promise<void> {
      const paths = ledgerPathsOf(input);
      commitLedger(paths.ledger, paths.next);
    },
  };
}

export type ScanActivities = ReturnType<typeof createScanActivities>;
