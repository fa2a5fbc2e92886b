import fs from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  WorkflowFailedError,
  type Client,
  type ScheduleDescription,
  type ScheduleSpec,
} from '@temporalio/client';
import { batchIdOfScan, scanWorkflowIdOf, type ScanInput, type ScanResult } from '../shared/scan-input.js';
import { describeWaiting } from '../policy/completeness.js';
import { fileSummary } from '../shared/file-summary.js';
import { RequestError } from '../shared/request-error.js';
import { saKeys } from '../workflows/search-attribute-keys.js';
import { hasLivePoller } from './cli-worker.js';
import { addBatchOptions, batchRequestOf, buildTemplate, preflight, type BatchOpts } from './ingest-batch.js';
import { formatDuration, parseDuration } from './schedule-duration.js';
import { parseMeta } from './ingest.js';
import { stateDir } from './state-dir.js';
import { withClient } from './temporal-client.js';

/** The batch ID is `<name>-YYYYMMDD-HHMMSS` and must stay a valid batch ID (128 characters). */
const namePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$/;

/**
 * Overlap policies offered. Never two scans of one directory at once: the schedule's ledger is read and
 * rewritten by one scan at a time. ALLOW_ALL would break that, CANCEL/TERMINATE_OTHER would stop a scan
 * waiting for its batch (harmless, the batch goes on, but its outcome is lost to `describe`).
 */
const overlapChoices = {
  'buffer-one': ScheduleOverlapPolicy.BUFFER_ONE,
  skip: ScheduleOverlapPolicy.SKIP,
  'buffer-all': ScheduleOverlapPolicy.BUFFER_ALL,
} as const;
type OverlapChoice = keyof typeof overlapChoices;

type CreateOpts = BatchOpts & {
  every?: string;
  cron?: string;
  timezone?: string;
  overlap: OverlapChoice;
  catchupWindow: string;
  jitter?: string;
  pauseOnFailure?: boolean;
  paused?: boolean;
  note?: string;
};

/** A schedule's handle, described; a name that is not one of ours is a wrong request. */
async function describeOurs(client: Client, name: string): Promise<ScheduleDescription> {
  try {
    const d = await client.schedule.getHandle(name).describe();
    if (d.action.workflowType !== 'scanDirectory')
      throw new RequestError(`schedule ${name} is not a rucio-ingest schedule (it starts ${d.action.workflowType})`);
    return d;
  } catch (err) {
    if (err instanceof ScheduleNotFoundError)
      throw new RequestError(`no schedule ${name}: see rucio-ingest schedule list`);
    throw err;
  }
}

function specOf(o: CreateOpts): ScheduleSpec {
  if (Boolean(o.every) === Boolean(o.cron))
    throw new RequestError('give one of --every DURATION (e.g. 10m) or --cron "EXPRESSION" (e.g. "*/10 * * * *")');
  const spec: ScheduleSpec = o.every
    ? { intervals: [{ every: parseDuration(o.every, '--every') }] }
    : { cronExpressions: [o.cron as string] };
  if (o.jitter) spec.jitter = parseDuration(o.jitter, '--jitter');
  if (o.timezone) spec.timezone = o.timezone;
  return spec;
}

function whenText(d: ScheduleDescription): string {
  const s = d.spec;
  const parts = [
    ...(s.intervals ?? []).map((i) => `every ${formatDuration(Number(i.every))}`),
    ...(s.calendars ?? []).map((c) => `calendar ${JSON.stringify(c)}`),
  ];
  if (s.jitter) parts.push(`jitter ${formatDuration(Number(s.jitter))}`);
  if (s.timezone) parts.push(`time zone ${s.timezone}`);
  return parts.join(', ');
}

const overlapName = (p: ScheduleOverlapPolicy) =>
  (Object.entries(overlapChoices).find(([, v]) => v === p)?.[0] ?? String(p)).toLowerCase();

interface RecentRun {
  scheduledAt: string;
  takenAt: string;
  workflowId: string;
  batchId: string;
  status: string;
  result?: ScanResult;
  failure?: string;
}

/** One recent action: its scan's status and outcome (the scan's result, or why it failed). */
async function recentRun(client: Client, name: string, r: ScheduleDescription['info']['recentActions'][number]) {
  const { workflowId, firstExecutionRunId } = r.action.workflow;
  const run: RecentRun = {
    scheduledAt: r.scheduledAt.toISOString(),
    takenAt: r.takenAt.toISOString(),
    workflowId,
    batchId: batchIdOfScan(name, workflowId, r.takenAt),
    status: 'UNKNOWN',
  };
  const handle = client.workflow.getHandle(workflowId, firstExecutionRunId);
  try {
    run.status = (await handle.describe()).status.name;
    if (run.status === 'COMPLETED') run.result = (await handle.result()) as ScanResult;
    else if (run.status === 'FAILED') await handle.result();
  } catch (err) {
    if (err instanceof WorkflowFailedError) run.failure = err.cause?.message ?? err.message;
    else run.failure = (err as Error).message;
  }
  return run;
}

function runText(r: RecentRun): string {
  let what: string;
  if (r.result) {
    const waiting = describeWaiting(r.result.waiting);
    const b = r.result.batch?.counts;
    what =
      r.result.files === 0
        ? 'nothing new'
        : `batch ${r.batchId}: ${r.result.files} files, ${b ? `${b.done} done, ${b.failed} failed` : 'no status'}`;
    if (waiting) what += `; waiting: ${waiting}`;
  } else if (r.failure) what = `${r.failure}`;
  else if (r.status === 'RUNNING') what = `batch ${r.batchId} (rucio-ingest batch status ${r.batchId})`;
  else what = '';
  return `  ${r.scheduledAt}  ${r.status.padEnd(10)} ${what}`;
}

export function scheduleCommand(): Command {
  const schedule = new Command('schedule').description(
    'Temporal Schedules instead of cron: scan a watched directory every interval and ingest what is new and complete',
  );

  const create = schedule
    .command('create')
    .description('scan <directory> on a schedule; each scan ingests the new, complete files as one batch')
    .argument('<name>', 'name of the schedule (its batches are <name>-YYYYMMDD-HHMMSS)')
    .argument('<directory>', 'watched directory, at the same path on every worker host');
  addBatchOptions(create)
    .option('--every <duration>', 'scan every interval: 90s, 10m, 1h30m, 1d')
    .option('--cron <expression>', 'scan at the times of a cron expression, e.g. "*/10 * * * *"')
    .option('--timezone <tz>', 'time zone of --cron (default UTC)')
    .addOption(
      new Option(
        '--overlap <policy>',
        'a scan due while the last one still runs (with its batch): buffer-one runs it right after, skip drops it; never two at once',
      )
        .choices(Object.keys(overlapChoices))
        .default('buffer-one'),
    )
    .option('--catchup-window <duration>', 'after an outage, take missed scans this recent', '1h')
    .option('--jitter <duration>', 'start each scan up to this much later, at random (spreads load)')
    .option('--pause-on-failure', 'pause the schedule when a scan fails (some file failed, or a name was refused)')
    .option('--paused', 'create it paused')
    .option('--note <text>', 'a note shown by describe (e.g. why it is paused)')
    .action(async (name: string, directory: string, flags: CreateOpts) => {
      process.exitCode = await createSchedule(create, name, directory, flags);
    });

  schedule
    .command('list')
    .description("rucio-ingest's schedules")
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean }) =>
      withClient(async (client) => {
        const rows: Array<{ name: string; paused: boolean; next?: string; directory?: unknown; note?: string }> = [];
        for await (const s of client.schedule.list()) {
          if (s.action?.workflowType !== 'scanDirectory') continue;
          rows.push({
            name: s.scheduleId,
            paused: s.state.paused,
            next: s.info.nextActionTimes[0]?.toISOString(),
            directory: s.memo?.directory,
            note: s.state.note,
          });
        }
        rows.sort((a, b) => a.name.localeCompare(b.name));
        if (o.json) console.log(JSON.stringify(rows, null, 2));
        else if (rows.length === 0) console.log('no schedule yet: rucio-ingest schedule create <name> <directory> ...');
        else
          for (const r of rows)
            console.log(
              `${r.name}  ${r.paused ? 'PAUSED' : 'active'}  ${String(r.directory ?? '')}  next ${r.next ?? '-'}${r.note ? `  (${r.note})` : ''}`,
            );
      }),
    );

  schedule
    .command('describe')
    .description('state, policies, next runs, and the last runs with their batches and outcomes')
    .argument('<name>')
    .option('--json', 'machine-readable output')
    .action(async (name: string, o: { json?: boolean }) =>
      withClient(async (client) => {
        const d = await describeOurs(client, name);
        const input = d.action.args?.[0] as ScanInput | undefined;
        // Newest first, by when each was taken: a backfill takes old action times late.
        const actions = [...d.info.recentActions].sort((a, b) => b.takenAt.getTime() - a.takenAt.getTime());
        const recent = await Promise.all(actions.map((r) => recentRun(client, name, r)));
        const view = {
          name,
          paused: d.state.paused,
          note: d.state.note,
          directory: input?.directory,
          taskQueue: d.action.taskQueue,
          spec: { ...d.spec, text: whenText(d) },
          overlap: overlapName(d.policies.overlap),
          catchupWindowMs: d.policies.catchupWindow,
          pauseOnFailure: d.policies.pauseOnFailure,
          nextRuns: d.info.nextActionTimes.map((t) => t.toISOString()),
          running: d.info.runningActions.map((a) => a.workflow.workflowId),
          actionsTaken: d.info.numActionsTaken,
          skippedOverlap: d.info.numActionsSkippedOverlap,
          missedCatchupWindow: d.info.numActionsMissedCatchupWindow,
          recent,
        };
        if (o.json) {
          console.log(JSON.stringify(view, null, 2));
          return;
        }
        console.log(
          `schedule ${name}: ${d.state.paused ? 'PAUSED' : 'active'}${d.state.note ? ` (${d.state.note})` : ''}`,
        );
        console.log(`  scans ${view.directory ?? '?'} ${view.spec.text}, on task queue ${view.taskQueue}`);
        console.log(
          `  overlap ${view.overlap}, catch-up window ${formatDuration(view.catchupWindowMs)}, pause on failure: ${view.pauseOnFailure ? 'yes' : 'no'}`,
        );
        console.log(
          `  ${view.actionsTaken} scans so far (${view.skippedOverlap} skipped for overlap, ${view.missedCatchupWindow} missed the catch-up window)`,
        );
        console.log(`  next: ${d.state.paused ? '(paused)' : view.nextRuns.slice(0, 3).join(', ') || '-'}`);
        for (const r of view.running) console.log(`  running: ${r}`);
        if (recent.length > 0) console.log('  last runs:');
        for (const r of recent) console.log(runText(r));
      }),
    );

  schedule
    .command('pause')
    .description('take no scheduled scan until unpaused (scans and batches running go on)')
    .argument('<name>')
    .option('--note <text>', 'why: shown by describe and in the Web UI')
    .action(async (name: string, o: { note?: string }) =>
      withClient(async (client) => {
        await describeOurs(client, name);
        await client.schedule.getHandle(name).pause(o.note ?? `paused by ${process.env.USER ?? 'rucio-ingest'}`);
        console.log(`schedule ${name} paused`);
      }),
    );

  schedule
    .command('unpause')
    .description('take scheduled scans again')
    .argument('<name>')
    .option('--note <text>', 'a note shown by describe')
    .action(async (name: string, o: { note?: string }) =>
      withClient(async (client) => {
        await describeOurs(client, name);
        await client.schedule.getHandle(name).unpause(o.note ?? 'unpaused');
        console.log(`schedule ${name} active`);
      }),
    );

  schedule
    .command('trigger')
    .description('scan now (after the running scan, if one runs: the overlap policy applies)')
    .argument('<name>')
    .action(async (name: string) =>
      withClient(async (client) => {
        const d = await describeOurs(client, name);
        // BUFFER_ALL: a scan asked for by hand runs after the running one and is never dropped. With BUFFER_ONE,
        // Temporal skips it when a scheduled scan already waits, and a paused schedule drops that one.
        await client.schedule.getHandle(name).trigger(ScheduleOverlapPolicy.BUFFER_ALL);
        console.log(`schedule ${name}: scan requested; follow with rucio-ingest schedule describe ${name}`);
        await warnIfNoWorker(client, d.action.taskQueue);
      }),
    );

  schedule
    .command('backfill')
    .description('take the scans the schedule would have taken between two times (one after another)')
    .argument('<name>')
    .requiredOption('--from <time>', 'start, ISO 8601 (e.g. 2026-12-01T18:00:00Z)')
    .requiredOption('--to <time>', 'end, ISO 8601')
    .action(async (name: string, o: { from: string; to: string }) =>
      withClient(async (client) => {
        const start = new Date(o.from);
        const end = new Date(o.to);
        if (Number.isNaN(start.getTime())) throw new RequestError(`--from ${o.from}: not an ISO 8601 time`);
        if (Number.isNaN(end.getTime())) throw new RequestError(`--to ${o.to}: not an ISO 8601 time`);
        if (end <= start) throw new RequestError('--to must be after --from');
        const d = await describeOurs(client, name);
        // All of them, queued one after another: never two scans at once.
        await client.schedule.getHandle(name).backfill({ start, end, overlap: ScheduleOverlapPolicy.BUFFER_ALL });
        console.log(`schedule ${name}: scans between ${start.toISOString()} and ${end.toISOString()} requested`);
        await warnIfNoWorker(client, d.action.taskQueue);
      }),
    );

  schedule
    .command('delete')
    .description('delete the schedule (a scan or batch running goes on; its ledger is kept in the state directory)')
    .argument('<name>')
    .action(async (name: string) =>
      withClient(async (client) => {
        await describeOurs(client, name);
        await client.schedule.getHandle(name).delete();
        console.log(`schedule ${name} deleted`);
      }),
    );

  return schedule;
}

async function warnIfNoWorker(client: Client, taskQueue: string | undefined): Promise<void> {
  if (!taskQueue) return;
  const live = await hasLivePoller(client, client.options.namespace, taskQueue).catch(() => true);
  if (!live)
    console.error(
      `no worker polls task queue ${taskQueue}: scans wait until one runs (rucio-ingest worker --task-queue ${taskQueue})`,
    );
}

async function createSchedule(cmd: Command, name: string, directory: string, flags: CreateOpts): Promise<number> {
  if (!namePattern.test(name))
    throw new RequestError(
      `schedule name ${name}: letters, digits, . _ - only (up to 96), starting with a letter or digit`,
    );
  const spec = specOf(flags);
  const catchupWindow = parseDuration(flags.catchupWindow, '--catchup-window');
  const { o, f, namespace, completeness, concurrency, pageSize } = batchRequestOf(cmd, flags);
  if (f.originRse && !o.originUrl)
    throw new RequestError(
      `--origin-rse ${f.originRse}: give --origin-url, the URL at which the RSE serves the watched directory`,
    );
  const watched = path.resolve(directory);
  if (!fs.statSync(watched, { throwIfNoEntry: false })?.isDirectory())
    throw new RequestError(`${directory} is not a directory: a schedule watches a directory`);
  const state = stateDir();
  const template = buildTemplate(f, o, path.join(state, 'schedules', name));
  await preflight(template, f.scope);
  const input: ScanInput = {
    schedule: name,
    directory: watched,
    namespace,
    metadata: parseMeta(f.meta),
    excludeSuffixes: o.metaSidecar ? [o.metaSidecar] : [],
    completeness,
    ...(f.originRse && o.originUrl ? { origin: { rse: f.originRse, url: o.originUrl } } : {}),
    template,
    taskQueue: f.taskQueue,
    concurrency,
    pageSize,
    stateDir: state,
  };
  const summary = `scan ${watched} ${fileSummary(template, 0)}`;
  return withClient(async (client) => {
    try {
      await client.schedule.create({
        scheduleId: name,
        spec,
        action: {
          type: 'startWorkflow',
          workflowType: 'scanDirectory',
          workflowId: scanWorkflowIdOf(name),
          taskQueue: f.taskQueue,
          args: [input],
          typedSearchAttributes: [{ key: saKeys.scope, value: f.scope }],
          staticSummary: summary,
        },
        policies: { overlap: overlapChoices[flags.overlap], catchupWindow, pauseOnFailure: !!flags.pauseOnFailure },
        state: { paused: !!flags.paused, ...(flags.note ? { note: flags.note } : {}) },
        memo: { directory: watched },
      });
    } catch (err) {
      if (err instanceof ScheduleAlreadyRunning)
        throw new RequestError(
          `schedule ${name} exists: rucio-ingest schedule describe ${name}, or delete it first to change it`,
        );
      throw err;
    }
    const d = await client.schedule.getHandle(name).describe();
    console.log(
      `schedule ${name} created${flags.paused ? ' (paused)' : ''}: ${summary}; next ${d.info.nextActionTimes[0]?.toISOString() ?? '-'}`,
    );
    await warnIfNoWorker(client, f.taskQueue);
    return 0;
  });
}
