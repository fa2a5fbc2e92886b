import { proxyActivities, proxyLocalActivities, upsertSearchAttributes } from '@temporalio/workflow';
import type { noopActivities } from './ceiling.js';

const act = proxyActivities<typeof noopActivities>({ startToCloseTimeout: '1m' });
const local = proxyLocalActivities<typeof noopActivities>({ startToCloseTimeout: '1m' });

/** Shaped like a landing-only file in events: one activity (inspect and upload), one local (register). */
export async function noopFile(): Promise<void> {
  await act.noop();
  await local.noop();
}

/** The same with the step upserts a file makes (what the Web UI's step column costs). */
export async function noopFileWithSteps(): Promise<void> {
  upsertSearchAttributes({ IngestStep: ['upload'] });
  await act.noop();
  await local.noop();
  upsertSearchAttributes({ IngestStep: ['done'] });
}
