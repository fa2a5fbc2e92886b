import { proxyActivities, proxyLocalActivities, upsertSearchAttributes } from '@temporalio/workflow';
import type { noopActivities } from './ceiling.js';

const act = proxyActivities<typeof noopActivities>({ startToCloseTimeout: '1m' });
const local = proxyLocalActivities<typeof noopActivities>({ startToCloseTimeout: '1m' });

/** Shaped like a landing-only file in events: two activities, one local activity, no bytes, no Rucio. */
export async function noopFile(): Promise<void> {
  await act.noop();
  await act.noop();
  await local.noop();
}

/** The same with the step upserts a file makes (what the Web UI's step column costs). */
export async function noopFileWithSteps(): Promise<void> {
  for (const step of ['inspect', 'upload', 'register']) {
    upsertSearchAttributes({ IngestStep: [step] });
    await (step === 'register' ? local.noop() : act.noop());
  }
  upsertSearchAttributes({ IngestStep: ['done'] });
}
