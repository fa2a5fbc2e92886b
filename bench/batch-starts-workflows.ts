import {
  ParentClosePolicy,
  condition,
  defineSignal,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { startActivities } from './batch-starts.js';

const act = proxyActivities<typeof startActivities>({ startToCloseTimeout: '1m' });
const local = proxyLocalActivities<typeof startActivities>({ startToCloseTimeout: '1m' });

/** Files report how many ended, many to a signal (as rucio-ingest's filesFinished). */
export const ended = defineSignal<[number]>('ended');

/** Shaped like a landing-only file: one activity, one local activity, the report through the worker. */
export async function noopFile(batch: string, steps: number): Promise<void> {
  if (steps >= 2) upsertSearchAttributes({ IngestStep: ['upload'] });
  await act.noop();
  await local.noop();
  if (steps >= 1) upsertSearchAttributes({ IngestStep: ['done'] });
  await local.report(batch);
}

export interface StartShape {
  files: number;
  window: number;
  /** children: startChild; activity / local: the worker starts them (a regular or local activity). */
  how: 'children' | 'activity' | 'local';
  eager: boolean;
  steps: number;
}

/** A batch keeping `window` no-op files in flight, started as `how` says. */
export async function noopBatch(s: StartShape): Promise<void> {
  let inFlight = 0;
  let done = 0;
  let started = 0;
  setHandler(ended, (k) => {
    done += k;
    inFlight -= k;
  });
  const me = workflowInfo().workflowId;
  while (started < s.files) {
    await condition(() => inFlight < s.window);
    const room = Math.min(s.window - inFlight, s.files - started);
    const first = started;
    started += room;
    inFlight += room;
    if (s.how === 'children') {
      for (let i = first; i < first + room; i++)
        void startChild(noopFile, {
          workflowId: `${me}-${i}`,
          args: [me, s.steps],
          parentClosePolicy: ParentClosePolicy.ABANDON,
        });
    } else {
      const input = { batch: me, first, count: room, eager: s.eager, steps: s.steps };
      void (s.how === 'local' ? local.startFiles(input) : act.startFiles(input));
    }
  }
  await condition(() => done >= s.files);
}
