import { upsertSearchAttributes, proxyActivities, proxyLocalActivities, startChild, ParentClosePolicy, condition, setHandler, defineSignal, workflowInfo } from '@temporalio/workflow';
import type { acts } from './run.js';
const act = proxyActivities<typeof acts>({ startToCloseTimeout: '1m' });
const local = proxyLocalActivities<typeof acts>({ startToCloseTimeout: '1m' });
export const done = defineSignal<[number]>('done');
export async function file(parent?: string): Promise<void> {
  await act.noop();
  await local.noop();
  if (parent) await local.report(parent);
}
export async function fileSteps2(parent?: string): Promise<void> {
  upsertSearchAttributes({ IngestStep: ['upload'] });
  await act.noop();
  await local.noop();
  upsertSearchAttributes({ IngestStep: ['done'] });
  if (parent) await local.report(parent);
}
export async function fileSteps1(parent?: string): Promise<void> {
  await act.noop();
  await local.noop();
  upsertSearchAttributes({ IngestStep: ['done'] });
  if (parent) await local.report(parent);
}
export async function parentChildren(n: number, c: number): Promise<void> {
  let inflight = 0, finished = 0, started = 0;
  setHandler(done, (k) => { finished += k; inflight -= k; });
  while (started < n) {
    await condition(() => inflight < c);
    while (inflight < c && started < n) {
      const i = started++; inflight++;
      void startChild(file, { workflowId: `${workflowInfo().workflowId}-${i}`, args: [workflowInfo().workflowId], parentClosePolicy: ParentClosePolicy.ABANDON });
    }
  }
  await condition(() => finished >= n);
}
export async function parentActivity(n: number, c: number, eager = false, type = 'file'): Promise<void> {
  let inflight = 0, finished = 0, started = 0;
  setHandler(done, (k) => { finished += k; inflight -= k; });
  while (started < n) {
    await condition(() => inflight < c);
    const room = Math.min(c - inflight, n - started);
    const first = started; started += room; inflight += room;
    void local.startFiles({ parent: workflowInfo().workflowId, first, count: room, eager, type });
  }
  await condition(() => finished >= n);
}
