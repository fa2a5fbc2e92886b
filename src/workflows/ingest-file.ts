import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  defineQuery,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { LifecycleActivities } from '../activities/lifecycle.js';
import type { ReportActivities } from '../activities/report.js';
import type { IngestInput, QosTarget } from '../shared/ingest-input.js';
import type { Checksums } from '../storage/types.js';
import type { FileReport } from '../shared/batch-input.js';
import { fileFinished } from './batch-signals.js';
import { saKeys as keys } from './search-attribute-keys.js';

export type Step =
  | 'inspect'
  | 'upload'
  | 'register'
  | 'replicate'
  | 'verify'
  | 'delete-origin'
  | 'done'
  | 'failed'
  | 'cancelled';

export interface TargetProgress {
  target: QosTarget;
  ruleId?: string;
  state?: string;
  rses?: string[];
  polls: number;
  stuck?: string;
}

/** What `rucio-ingest status` and the Web UI show: the query answer. */
export interface IngestProgress {
  step: Step;
  attempts: Partial<Record<Step, number>>;
  checksums?: Checksums;
  landingPfn?: string;
  alreadyOnLanding?: boolean;
  targets: TargetProgress[];
  verified?: Array<{ rse: string; method: string }>;
  /** Replica state per RSE in Rucio when verified (AVAILABLE, COPYING, ...). */
  replicas?: Record<string, string>;
  originDeleted?: boolean;
  problem?: string;
  /** What the IngestProblem search attribute says: a failure type, or rule-<state> past a rule deadline. */
  problemCode?: string;
}

export interface IngestResult extends IngestProgress {
  did: string;
}

export const progressQuery = defineQuery<IngestProgress>('progress');

// Storage and checksum steps heartbeat: a stalled transfer is detected in `heartbeatTimeout`, not hours.
const transferActivities = (heartbeatTimeoutSeconds: number) =>
  proxyActivities<LifecycleActivities>({
    startToCloseTimeout: '12h',
    heartbeatTimeout: heartbeatTimeoutSeconds * 1000,
    retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '5m' },
    // A cancelled file cleans up only once the running step has stopped (aborted transfers remove their
    // temporaries): cleaning up beside a still-running upload or registration could leave either half-done.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  });

// Catalogue calls are short; a crashed Rucio server is waited out with backoff, without a cap on attempts.
const catalogue = proxyActivities<LifecycleActivities>({
  startToCloseTimeout: '3m',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '2m' },
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
});

// The same calls run first by the worker that runs the workflow: one marker event instead of six events and
// a round trip through the task queue. Safe for them: short, idempotent, nothing to heartbeat; a killed
// worker's workflow task times out and the next worker runs the call again. A few quick tries only: then
// the call goes on as a regular activity, whose attempts and last failure `status` and the Web UI show
// while Rucio is down (a local activity's retries are invisible there).
const localCatalogue = proxyLocalActivities<LifecycleActivities>({
  startToCloseTimeout: '1m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumAttempts: 3 },
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
});

// A file's end goes to its batch from the worker, inside the workflow task that ends the file, joined with
// the reports of the other files ending on that worker (one signal for many): no signal command, no
// workflow task for its answer. Duplicates are harmless (the batch ignores a report it has).
const localReport = proxyLocalActivities<ReportActivities>({
  startToCloseTimeout: '1m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumAttempts: 3 },
});

type CatalogueStep = 'register' | 'addRule' | 'ruleStatus' | 'removeTrigger';
type Catalogue = {
  [K in CatalogueStep]: (input: Parameters<LifecycleActivities[K]>[0]) => ReturnType<LifecycleActivities[K]>;
};

/**
 * `quick` (a local activity), and when it keeps failing retryably, `durable` (a regular one), after
 * `onDurable` (which makes the step visible).
 */
function localFirst<A, R>(
  quick: (a: A) => Promise<R>,
  durable: (a: A) => Promise<R>,
  onDurable?: () => void,
): (a: A) => Promise<R> {
  return async (a: A) => {
    try {
      return await quick(a);
    } catch (err) {
      const permanent =
        err instanceof ActivityFailure &&
        (err.retryState === 'NON_RETRYABLE_FAILURE' ||
          (err.cause instanceof ApplicationFailure && err.cause.nonRetryable));
      if (isCancellation(err) || permanent) throw err;
      onDurable?.();
      return durable(a);
    }
  };
}

function catalogueWith(onDurable?: () => void): Catalogue {
  return {
    register: localFirst(localCatalogue.register, catalogue.register, onDurable),
    addRule: localFirst(localCatalogue.addRule, catalogue.addRule, onDurable),
    ruleStatus: localFirst(localCatalogue.ruleStatus, catalogue.ruleStatus, onDurable),
    removeTrigger: localFirst(localCatalogue.removeTrigger, catalogue.removeTrigger, onDurable),
  };
}

const localFirstCatalogue: Catalogue = catalogueWith();

/** One file through upload → register → replicate → verify → delete at origin. */
export async function ingestFile(input: IngestInput): Promise<IngestResult> {
  const progress: IngestProgress = {
    step: 'inspect',
    attempts: {},
    targets: input.qos.map((target) => ({ target, polls: 0 })),
  };
  setHandler(progressQuery, () => progress);
  // Histories recorded before the input had this field replay with the old default.
  const transfer = transferActivities(input.heartbeatTimeoutSeconds ?? 60);

  const enter = (step: Step) => {
    progress.step = step;
    upsertSearchAttributes([{ key: keys.step, value: step }]);
  };
  const attempt = (step: Step, n: number | undefined) => {
    if (n !== undefined) progress.attempts[step] = n;
  };
  const did = input.did;
  /** A verification's outcome, from the verify step or from the copy step that verified. */
  const recordVerification = (ver: {
    verified: IngestProgress['verified'];
    replicas: IngestProgress['replicas'];
    originDeleted?: boolean;
  }) => {
    progress.verified = ver.verified;
    progress.replicas = ver.replicas;
    for (const t of progress.targets) t.state ??= 'OK'; // every lock of it is OK: verified
    if (input.deleteOrigin) progress.originDeleted = ver.originDeleted;
  };

  // Workflows started before this version replay their own steps; new ones fold the catalogue-only steps
  // into their neighbours (pre-flight into inspection, the landing rule into registration, a direct
  // target's rule into its copy, the origin's deletion into verification; no verify step for a landing-only
  // file that keeps its origin): 49 events instead of 90 for two QoS targets and a deletion.
  // Newer runs also make the catalogue-only steps local activities; that one marker implies the others
  // ('lean-steps', 'report-to-batch', 'cancel-cleanup'), so a file carries one marker instead of three.
  // Newest runs inspect the source in the upload activity (one activity, one step upsert fewer a file) and
  // show the register step only when its local activity gives way to a regular one (Rucio failing): a
  // quick registration runs inside the workflow task that ends the file, where no one sees the step.
  // Newer runs report their end through the worker (reportToBatch): one marker for all of the above.
  // Newest runs verify a direct copy in the step that made the file's last copy (no verify step: 7 events
  // fewer a file with a copy), with one marker for all of the above.
  // Inputs of the current flow (`input.flow`) take all of the above with no marker at all, and their start
  // named the upload step: three events fewer a file (the marker, Temporal's upsert of it, the step's).
  // Flow 3: a landing-only file that keeps its origin ends with its registration, which reports the end to
  // the batch in the same local activity (one marker, one local activity and one activation fewer a file).
  // Flow 4: the upload activity registers the file as well: a slow Rucio no longer holds a workflow task
  // (a local activity past 10 s makes Temporal heartbeat the task, or time it out). The file reports its
  // end from its last workflow task again, as files with a copy do (see ThenRegister).
  const flow = input.flow ?? 0;
  const current = flow >= 2;
  const verifyInCopy = current || patched('verify-in-copy');
  const batchedReport = verifyInCopy || patched('batched-report');
  const fold = batchedReport || patched('upload-inspects');
  const local = fold || patched('local-catalogue');
  const lean = local || patched('lean-steps');
  const cat: Catalogue = fold
    ? catalogueWith(() => {
        if (progress.step === 'register') upsertSearchAttributes([{ key: keys.step, value: 'register' }]);
      })
    : local
      ? localFirstCatalogue
      : catalogue;
  const batch = input.reportTo;
  const registerInUpload = flow >= 4;
  const reportInRegister = flow === 3 && !!batch && input.qos.length === 0 && !input.deleteOrigin && !input.trigger;
  try {
    const preflight = { landingRse: input.landingRse, qos: input.qos, did };
    const inspection = {
      source: input.source,
      md5: input.md5,
      allowEmpty: input.allowEmpty,
      metadata: input.metadata,
      metaSidecarSuffix: input.metaSidecarSuffix,
      metaSchema: input.metaSchema,
      refused: input.refused,
      preflight: lean ? preflight : undefined,
    };
    let checksums: Checksums;
    let metadata: Record<string, string | number | boolean> | undefined;
    let up: { pfn: string; alreadyThere: boolean; attempt: number };
    let registered: Awaited<ReturnType<Catalogue['register']>> | undefined;
    const registration = {
      metadata: input.metadata,
      dataset: input.dataset,
      containers: input.containers,
      origin: input.source.kind === 'rse' ? { rse: input.source.rse, pfn: input.source.pfn } : undefined,
      // The landing copy stays protected by a rule of its own until a human decides otherwise.
      landingRule: lean,
    };
    if (fold) {
      if (current) progress.step = 'upload';
      else enter('upload');
      const r = await transfer.upload({
        ...inspection,
        did,
        landingRse: input.landingRse,
        // Flow 4: the upload registers the file too.
        thenRegister: registerInUpload ? registration : undefined,
      });
      const mismatch = (what: string) =>
        ApplicationFailure.nonRetryable(
          `the upload returned no ${what}: a worker of an older version ran it. Run workers of one version on the task queue, then run the same command again.`,
          'WorkerVersionMismatch',
        );
      if (!('inspected' in r) || !r.inspected) throw mismatch('inspection');
      if (registerInUpload && !r.registered) throw mismatch('registration');
      registered = r.registered;
      ({ metadata, ...checksums } = r.inspected);
      progress.checksums = checksums;
      up = r;
    } else {
      enter('inspect');
      if (!lean) await catalogue.preflight(preflight);
      ({ metadata, ...checksums } = await transfer.inspectSource(inspection));
      progress.checksums = checksums;
      enter('upload');
      up = await transfer.upload({
        source: input.source,
        did,
        landingRse: input.landingRse,
        checksums,
        md5: input.md5,
      });
    }
    progress.landingPfn = up.pfn;
    progress.alreadyOnLanding = up.alreadyThere;
    attempt('upload', up.attempt);

    // Flow 4's upload has registered the file: no register step to show.
    if (!registered) {
      if (fold) progress.step = 'register';
      else enter('register');
    }
    const reg =
      registered ??
      (await cat.register({
        ...registration,
        did,
        landingRse: input.landingRse,
        checksums,
        // With a sidecar or schema, inspection returns the file's final metadata (older runs returned none).
        metadata: metadata ?? input.metadata,
        thenReport: reportInRegister
          ? {
              batchWorkflowId: batch!,
              report: { workflowId: workflowInfo().workflowId, outcome: 'done', bytes: checksums.bytes },
            }
          : undefined,
      }));
    attempt('register', reg.attempt);
    if (!lean)
      await catalogue.addRule({ did, target: { copies: 1, rseExpression: input.landingRse, grouping: 'NONE' } });

    if (!lean || progress.targets.length > 0) enter('replicate');
    // Direct copies are verified (and the origin deleted) by the step that makes the last one.
    const verifiedInCopy = verifyInCopy && input.mode === 'direct' && progress.targets.length > 0;
    for (const [i, t] of progress.targets.entries()) {
      if (input.mode === 'direct') {
        const last = i === progress.targets.length - 1;
        const rep = await transfer.replicateDirect({
          did,
          target: t.target,
          fromRse: input.landingRse,
          checksums,
          md5: input.md5,
          addRule: lean,
          dataset: { did: input.dataset, containers: input.containers },
          thenVerify:
            verifiedInCopy && last
              ? {
                  ruleIds: progress.targets.slice(0, i).map((x) => x.ruleId!),
                  readbackFallback: input.verify.readbackFallback,
                  deleteOrigin: input.deleteOrigin ? { source: input.source } : undefined,
                }
              : undefined,
        });
        t.rses = rep.rses;
        t.ruleId = rep.ruleId;
        attempt('replicate', rep.attempt);
        if (rep.verification) recordVerification(rep.verification);
      }
      if (!t.ruleId) t.ruleId = (await cat.addRule({ did, target: t.target })).ruleId;
    }
    // A direct copy's rule is OK once its replicas are registered: verification reads its locks anyway.
    await Promise.all(
      progress.targets
        .filter(() => !(lean && input.mode === 'direct'))
        .map((t) => waitForRule(cat, t, t.target.deadlineSeconds ?? input.ruleDeadlineSeconds, keys.problem, progress)),
    );

    // Landing only and the origin kept: the upload's digest check and registration's read-back said it all.
    if (!verifiedInCopy && (!lean || progress.targets.length > 0 || input.deleteOrigin)) {
      enter('verify');
      const ver = await transfer.verifyReplicas({
        did,
        checksums,
        ruleIds: progress.targets.map((t) => t.ruleId!),
        readbackFallback: input.verify.readbackFallback,
        deleteOrigin: lean && input.deleteOrigin ? { source: input.source } : undefined,
      });
      if (lean) recordVerification(ver);
      else {
        progress.verified = ver.verified;
        progress.replicas = ver.replicas;
      }

      if (input.deleteOrigin && !lean) {
        enter('delete-origin');
        const del = await catalogue.deleteAtOrigin({
          source: input.source,
          did,
          checksums,
          // A size-only check (RSE policy `size` on a storage without digest) never licenses a deletion.
          verifiedRses: ver.verified.filter((v) => v.method !== 'stat').map((v) => v.rse),
        });
        progress.originDeleted = del.deleted;
      }
    }
    // Announced complete by a trigger file: it goes once the file is done (kept after a failure).
    if (input.trigger && (current || patched('remove-trigger'))) {
      const t = await cat.removeTrigger({ path: input.trigger });
      if (t.problem) log.warn('trigger file kept', { problem: t.problem });
    }
    enter('done');
    if (reg.report === 'batch-ended') log.warn('the batch has ended: report not delivered', { batch });
    else if (reg.report !== 'delivered')
      await reportToBatch(input.reportTo, current, local, batchedReport, { outcome: 'done', bytes: checksums.bytes });
    return { ...progress, did: `${did.scope}:${did.name}` };
  } catch (err) {
    if (isCancellation(err) && (local || patched('cancel-cleanup'))) {
      // Cancelled (e.g. `rucio-ingest batch cancel`): leave nothing half-done. The running step has stopped
      // (WAIT_CANCELLATION_COMPLETED); bytes on storage that Rucio does not list are removed, with every
      // temporary; what is registered stays (its bytes are there). The origin is never touched.
      await CancellationScope.nonCancellable(async () => {
        await catalogue.discardUnregistered({
          did,
          rses: [input.landingRse],
          expressions: input.mode === 'direct' ? input.qos.map((q) => q.rseExpression) : [],
        });
        progress.step = 'cancelled';
        upsertSearchAttributes([{ key: keys.step, value: 'cancelled' }]);
        await reportToBatch(input.reportTo, current, local, batchedReport, {
          outcome: 'cancelled',
          bytes: progress.checksums?.bytes ?? 0,
        });
      });
      throw err;
    }
    progress.problem = describe(err);
    // A short code, not the message: keyword search attributes match exactly (IngestProblem="VerificationFailed").
    upsertSearchAttributes([{ key: keys.problem, value: progress.problemCode ?? problemCode(err) }]);
    log.error('ingestion failed', { step: progress.step, problem: progress.problem });
    progress.step = 'failed';
    upsertSearchAttributes([{ key: keys.step, value: 'failed' }]);
    await reportToBatch(input.reportTo, current, local, batchedReport, {
      outcome: 'failed',
      bytes: progress.checksums?.bytes ?? 0,
      problem: progress.problemCode ?? problemCode(err),
    });
    throw err;
  }
}

/**
 * A file started by a batch tells it how it ended (the batch counts, and starts the next file). By workflow
 * ID only: the batch continues-as-new, and the signal reaches its current run. A batch gone (terminated)
 * must not fail the file. The batch is `reportTo` when its worker started the file, else the file's parent.
 */
async function reportToBatch(
  reportTo: string | undefined,
  current: boolean,
  implied: boolean,
  throughWorker: boolean,
  report: Omit<FileReport, 'workflowId'>,
): Promise<void> {
  const batch = reportTo ?? workflowInfo().parent?.workflowId;
  if (!batch || !(implied || patched('report-to-batch'))) return;
  const full: FileReport = { ...report, workflowId: workflowInfo().workflowId };
  // Awaited: a signal command sent with the workflow's completion is not delivered (measured: the batch
  // learned of such files only from its reconciliation, ten minutes later).
  const signal = () => getExternalWorkflowHandle(batch).signal(fileFinished, full);
  const send = async () => {
    if (throughWorker) {
      try {
        const r = await localReport.reportToBatch({ batchWorkflowId: batch, report: full });
        if (!r.delivered) log.warn('the batch has ended: report not delivered', { batch });
        return;
      } catch (err) {
        if (isCancellation(err)) throw err;
        // The worker could not reach Temporal's frontend a few times: the workflow's own signal is durable.
        log.warn('report through the worker failed: signalling the batch', { error: describe(err) });
      }
    }
    await signal();
  };
  try {
    // A cancel that arrives while the last step still finishes (its activity completed rather than
    // stopped: the origin may be gone) leaves the file done; the report must still go out, or the batch
    // waits for it. Only such runs record this marker.
    if (CancellationScope.current().consideredCancelled && (current || patched('report-despite-cancel')))
      await CancellationScope.nonCancellable(send);
    else await send();
  } catch (err) {
    log.warn('could not report to the batch', { batch, error: describe(err) });
  }
}

/** Wait durably (workflow timers, no activity held open) for a rule to be OK, up to its deadline. */
async function waitForRule(
  cat: Catalogue,
  t: TargetProgress,
  deadlineSeconds: number,
  problemKey: typeof keys.problem,
  progress: IngestProgress,
): Promise<void> {
  const deadline = Date.now() + deadlineSeconds * 1000;
  let delay = 5_000;
  for (;;) {
    const s = await cat.ruleStatus({ ruleId: t.ruleId! });
    t.state = s.state;
    t.polls += 1;
    if (s.state === 'OK') return;
    if (Date.now() >= deadline) {
      t.stuck = `rule ${t.ruleId} (${t.target.copies}x ${t.target.rseExpression}) is ${s.state} after ${deadlineSeconds}s: ${s.locks.ok} locks OK, ${s.locks.replicating} replicating, ${s.locks.stuck} stuck${s.error ? `; ${s.error}` : ''}`;
      progress.problem = t.stuck;
      progress.problemCode = `rule-${s.state.toLowerCase()}`;
      upsertSearchAttributes([{ key: problemKey, value: progress.problemCode }]);
      throw ApplicationFailure.nonRetryable(
        `${t.stuck}. The origin is kept. Inspect with 'rucio rule show ${t.ruleId}' and restart the ingestion when the rule is fixed.`,
        'RuleDeadlineExceeded',
      );
    }
    await sleep(Math.min(delay, Math.max(1000, deadline - Date.now())));
    delay = Math.min(delay * 2, 10 * 60_000);
  }
}

function problemCode(err: unknown): string {
  let e = err as { type?: string; cause?: unknown } | undefined;
  let code: string | undefined;
  // The innermost typed failure: activity failures wrap the ApplicationFailure that names the problem.
  for (; e; e = e.cause as typeof e) if (typeof e.type === 'string' && e.type) code = e.type;
  return code ?? 'error';
}

function describe(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined;
  // Activity failures wrap the real error: show the innermost message.
  while (e && e.cause) e = e.cause as typeof e;
  return e?.message ?? String(err);
}
