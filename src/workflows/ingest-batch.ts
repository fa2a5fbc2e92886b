import {
  CancellationScope,
  ParentClosePolicy,
  WorkflowIdReusePolicy,
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { BatchActivities, PageItem } from '../activities/batch.js';
import type { FileStart, StartActivities } from '../activities/start-files.js';
import type { BatchInput, BatchState, BatchStatus, FileReport } from '../shared/batch-input.js';
import { batchStatusQuery, fileFinished, filesFinished } from './batch-signals.js';
import { batchFileAttributes } from './search-attribute-keys.js';

const act = proxyActivities<BatchActivities>({
  startToCloseTimeout: '5m',
  // A manifest not (yet) visible on a worker's host or a Temporal hiccup: retried, the batch waits.
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '2m' },
});

// Files are started by the worker running the batch, many in one call: one marker in the batch's history
// for all the files started at once. Starts are idempotent (workflow IDs), so a call retried after a lost
// answer starts nothing twice; Temporal unreachable is waited out.
const localStart = proxyLocalActivities<StartActivities>({
  startToCloseTimeout: '2m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
});

/** Attached files (another batch's, or `rucio-ingest file`'s) are polled this often; they never report here. */
const attachedPollMs = 60_000;
/** With nothing reported for this long, the batch asks Temporal how its files in flight are (a lost report). */
const silentReconcileMs = 10 * 60_000;

function initialState(input: BatchInput): BatchState {
  return {
    offset: 0,
    eof: false,
    manifest: input.manifest,
    counts: { taken: 0, done: 0, alreadyDone: 0, failed: 0, cancelled: 0 },
    bytesDone: 0,
    failures: {},
    inFlight: {},
    startedAt: Date.now(),
    runs: 1,
    filesBefore: 0,
    bytesBefore: 0,
    retries: 0,
  };
}

/**
 * A batch of files: pages through its manifest, keeps at most `concurrency` file workflows in flight
 * (started by its worker, or as children abandoned on parent close in older batches, so they outlive each
 * continue-as-new), counts how each ended from their reports, and continues as new after each page so no
 * run's history holds more than one page.
 */
export async function ingestBatch(input: BatchInput): Promise<BatchStatus> {
  const s: BatchState = input.state ?? initialState(input);
  let cancelling = false;
  let cancelled = false;
  let lastNews = Date.now();
  const inFlightCount = () => Object.keys(s.inFlight).length;

  const settle = (report: FileReport) => {
    const f = s.inFlight[report.workflowId];
    if (!f) return; // a duplicate (report and reconcile both), or another run's file
    delete s.inFlight[report.workflowId];
    lastNews = Date.now();
    if (report.outcome === 'done') {
      s.counts.done += 1;
      s.bytesDone += report.bytes || f.bytes;
    } else if (report.outcome === 'cancelled') {
      s.counts.cancelled += 1;
    } else {
      s.counts.failed += 1;
      const why = report.problem ?? 'error';
      s.failures[why] = (s.failures[why] ?? 0) + 1;
    }
  };

  const status = (): BatchStatus => {
    const files = s.filesBefore + s.manifest.files;
    const inFlight = inFlightCount();
    return {
      batchId: input.batchId,
      state: cancelled ? 'cancelled' : cancelling ? 'cancelling' : 'running',
      total: { files, bytes: s.bytesBefore + s.manifest.bytes },
      counts: { ...s.counts, inFlight, queued: Math.max(0, files - s.counts.taken) },
      bytesDone: s.bytesDone,
      failures: { ...s.failures },
      startedAt: new Date(s.startedAt).toISOString(),
      elapsedSeconds: Math.round((Date.now() - s.startedAt) / 1000),
      runs: s.runs,
      retries: s.retries,
      retriedAt: s.retriedAt,
      events: workflowInfo().historyLength,
    };
  };

  setHandler(fileFinished, settle);
  setHandler(filesFinished, (reports) => reports.forEach(settle));
  setHandler(batchStatusQuery, status);

  /** Ask Temporal how files in flight ended when they cannot (attached) or did not (lost) report. */
  const reconcile = async (ids: string[]) => {
    if (ids.length === 0) return;
    for (const r of await act.describeFiles({ workflowIds: ids })) {
      if (r.status === 'RUNNING') continue;
      settle({
        workflowId: r.workflowId,
        outcome: r.status === 'COMPLETED' ? 'done' : r.status === 'CANCELLED' ? 'cancelled' : 'failed',
        bytes: 0,
        problem: r.problem ?? r.status.toLowerCase(),
      });
    }
  };

  // Files carried over from the previous run are asked about once, at the first watch or before this run
  // continues as new, whichever comes first: a report that reached the previous run while it was continuing
  // as new can be lost there (the fault test: reports that arrived as the run's continue-as-new was refused
  // were handled after its input was taken, and 11 done files waited for the 10-minute silence). Newer runs
  // only; one describe activity a run, for the carried files that have not reported meanwhile.
  const carried = new Set(patched('reconcile-carried') && input.state ? Object.keys(input.state.inFlight) : []);
  /** The carried files this run still counts in flight (the others have reported meanwhile). */
  const carriedInFlight = () => [...carried].filter((id) => s.inFlight[id]);
  const reconcileCarried = async () => {
    const ids = carriedInFlight();
    carried.clear();
    await reconcile(ids); // none left: no activity
  };
  // Newer runs also ask about them at once: in a benchmark's batch, a continue-as-new refused because
  // reports arrived during its workflow task went out again without 178 reports recorded before it, and the
  // next run kept those slots taken until its first watch, a minute at a third of its speed. Files still
  // running then are asked again at the first watch (their report may have gone the same way).
  const early = carried.size > 0 && patched('reconcile-carried-early');
  let stopWatch = false;
  void (async () => {
    try {
      if (early) await reconcile(carriedInFlight());
      while (!stopWatch) {
        await sleep(attachedPollMs);
        if (stopWatch) return;
        const silent = Date.now() - lastNews > silentReconcileMs;
        const ids = Object.entries(s.inFlight)
          .filter(([id, f]) => silent || f.attached || carried.has(id))
          .map(([id]) => id);
        carried.clear();
        if (silent) lastNews = Date.now();
        await reconcile(ids);
      }
    } catch (err) {
      if (!isCancellation(err)) throw err; // the batch's own cancellation ends the watch
    }
  })();

  const startOne = async (item: PageItem) => {
    s.counts.taken += 1;
    s.inFlight[item.workflowId] = { did: item.did, bytes: item.bytes, since: Date.now() };
    try {
      await startChild('ingestFile', {
        workflowId: item.workflowId,
        taskQueue: input.taskQueue,
        args: [item.input],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        // The lifecycle's own rule: a failed file may run again, a completed one never.
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        typedSearchAttributes: batchFileAttributes(item.input, input.batchId),
        staticSummary: item.summary,
      });
    } catch (err) {
      if (isCancellation(err)) throw err;
      // Already running (another batch, or `rucio-ingest file`) or completed before: find out which.
      const [r] = await act.describeFiles({ workflowIds: [item.workflowId] });
      if (r?.status === 'COMPLETED') {
        s.counts.alreadyDone += 1;
        settle({ workflowId: item.workflowId, outcome: 'done', bytes: item.bytes });
      } else if (r?.status === 'RUNNING') {
        s.inFlight[item.workflowId]!.attached = true;
      } else {
        settle({
          workflowId: item.workflowId,
          outcome: 'failed',
          bytes: 0,
          problem: r?.problem ?? 'StartFailed',
        });
        log.warn('file workflow could not be started', { workflowId: item.workflowId, error: String(err) });
      }
    }
  };

  /** Files the worker starts (not children: see start-files.ts); each reports its end to this batch. */
  const startGroup = async (group: PageItem[]) => {
    for (const item of group) {
      s.counts.taken += 1;
      s.inFlight[item.workflowId] = { did: item.did, bytes: item.bytes, since: Date.now() };
    }
    // Not cancellable: a cancelled batch first learns which of these started, then cancels them.
    const results: FileStart[] = await CancellationScope.nonCancellable(() =>
      localStart.startFiles({
        items: group,
        taskQueue: input.taskQueue,
        batchId: input.batchId,
        reportTo: workflowInfo().workflowId,
      }),
    );
    const bytes = new Map(group.map((i) => [i.workflowId, i.bytes]));
    for (const r of results) {
      const workflowId = r.workflowId;
      if (r.outcome === 'completed') settle({ workflowId, outcome: 'done', bytes: bytes.get(workflowId) ?? 0 });
      else if (r.outcome === 'done-before') {
        s.counts.alreadyDone += 1;
        settle({ workflowId, outcome: 'done', bytes: bytes.get(workflowId) ?? 0 });
      } else if (r.outcome === 'attached') {
        const f = s.inFlight[workflowId];
        if (f) f.attached = true;
      } else if (r.outcome === 'failed') {
        settle({ workflowId, outcome: 'failed', bytes: 0, problem: r.problem ?? 'StartFailed' });
        log.warn('file workflow could not be started', { workflowId, problem: r.problem });
      }
    }
  };

  // Batches started before these versions start children (or await each group of starts together); a
  // replay must do the same. The newest marker implies rolling starts.
  const workerStarts = patched('worker-starts');
  const rolling = workerStarts || patched('rolling-starts');
  const starting = new Set<Promise<void>>();
  /** A start that failed in a way startOne does not settle (the batch's cancellation). */
  let startFailure: unknown;
  try {
    let page: PageItem[] = [];
    while (!s.eof || page.length > 0) {
      if (page.length === 0) {
        const p = await act.readManifestPage({
          manifest: s.manifest,
          offset: s.offset,
          limit: input.pageSize,
          template: input.template,
          batchId: input.batchId,
        });
        page = p.items;
        s.offset = p.nextOffset;
        s.eof = p.eof;
        continue;
      }
      await condition(() => inFlightCount() < input.concurrency || startFailure !== undefined);
      if (startFailure !== undefined) throw startFailure;
      const room = input.concurrency - inFlightCount();
      const group = page.splice(0, room);
      if (workerStarts) {
        const p: Promise<void> = startGroup(group)
          .catch((err: unknown) => {
            startFailure ??= err;
          })
          .finally(() => starting.delete(p));
        starting.add(p);
      } else if (rolling) {
        // Each start goes on alone: a file that ends makes room for the next at once. Awaiting the whole
        // group held every new start until the slowest child of the group had started (measured: 200
        // children took 22 s to start on a busy dev server, while the files already done left the
        // batch with 0 in flight).
        for (const item of group) {
          const p: Promise<void> = startOne(item)
            .catch((err: unknown) => {
              startFailure ??= err;
            })
            .finally(() => starting.delete(p));
          starting.add(p);
        }
      } else await Promise.all(group.map(startOne));
      if (page.length === 0 && !s.eof) {
        // Every start of the page answered, so each file is known to run (or to have run before).
        await Promise.all(starting);
        if (startFailure !== undefined) throw startFailure;
        await reconcileCarried();
        // A page fully started: a fresh run carries the counts and the files in flight, not the history.
        stopWatch = true;
        // Newer runs continue as new in a workflow task of their own, not in the one that ran the last start:
        // Temporal refuses a continue-as-new when a report arrives during its task, and that task lasted as
        // long as the start (seconds). In four benchmark runs it was refused once or twice each; every retry
        // ran the start again and waited 1-6 s for a worker (no sticky queue after a failure), and nothing
        // was started meanwhile.
        if (patched('continue-in-own-task')) await sleep(1);
        await condition(allHandlersFinished);
        await continueAsNew<typeof ingestBatch>({ ...input, state: { ...s, runs: s.runs + 1 } });
      }
    }
    await Promise.all(starting);
    if (startFailure !== undefined) throw startFailure;
    await condition(() => inFlightCount() === 0);
  } catch (err) {
    if (!isCancellation(err)) throw err;
    // Cancelled: start nothing more, cancel the files in flight, and wait until each has cleaned up.
    cancelling = true;
    await CancellationScope.nonCancellable(async () => {
      // Starts under way finish first (they cannot be cancelled), so every file they start is cancelled.
      if (workerStarts) await Promise.all(starting);
      await Promise.all(
        Object.entries(s.inFlight)
          .filter(([, f]) => !f.attached)
          .map(([id]) =>
            getExternalWorkflowHandle(id)
              .cancel()
              .catch(() => undefined),
          ),
      );
      // Files of another batch or command go on; this batch stops waiting for them.
      for (const [id, f] of Object.entries(s.inFlight))
        if (f.attached) settle({ workflowId: id, outcome: 'cancelled', bytes: 0 });
      if (patched('cancel-watch')) {
        // Until every file has ended, ask Temporal now and then: a report can be missing (a file that
        // ended before its cancel took effect, in a version that did not report then).
        while (!(await condition(() => inFlightCount() === 0, attachedPollMs)))
          await reconcile(Object.keys(s.inFlight));
      } else {
        await Promise.race([condition(() => inFlightCount() === 0), sleep(15 * 60_000)]);
        await reconcile(Object.keys(s.inFlight));
      }
      stopWatch = true;
      cancelled = true;
      await condition(allHandlersFinished);
    });
    throw err;
  } finally {
    stopWatch = true;
  }
  await condition(allHandlersFinished);
  return { ...status(), state: 'done' };
}
