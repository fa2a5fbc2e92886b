import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  DefaultLogger,
  NativeConnection,
  Runtime,
  Worker,
  makeTelemetryFilterString,
  type LogLevel,
  type WorkerOptions,
} from '@temporalio/worker';
import type { Logger } from 'pino';
import { Client } from '@temporalio/client';
import { createActivities } from '../activities/lifecycle.js';
import { createScanActivities } from '../activities/scan.js';
import { createBatchActivities } from '../activities/batch.js';
import { createReportActivities } from '../activities/report.js';
import { createStartActivities } from '../activities/start-files.js';
import { RucioClient } from '../rucio/client.js';
import { defaultTaskQueue } from '../shared/ingest-input.js';
import { wholeNumberIn } from '../shared/request-error.js';

export interface WorkerConfig {
  temporalAddress: string;
  namespace: string;
  taskQueue: string;
  /** Concurrent activities (uploads, copies, catalogue calls). */
  maxConcurrentActivities: number;
  /**
   * Workflow tasks in progress at once. A file's task stays open while its catalogue calls run as local
   * activities, gathered with other files' into bulk calls: with the SDK's 40, files in that step held
   * every slot, and the batch's own tasks and the next files waited for one (see README, Performance).
   */
  maxConcurrentWorkflowTasks: number;
  /** Prometheus endpoint of the Temporal runtime, e.g. 0.0.0.0:9464; off when undefined. */
  metricsAddress?: string;
  /**
   * The Web UI's "Stack Trace" of a running workflow (RUCIO_INGEST_WORKFLOW_STACK_TRACES=1). For it the SDK
   * captures a stack trace for every promise workflow code creates, about 3 ms of worker CPU a file
   * (measured by replaying a file's history); off by default. `status` and the progress query say where a
   * file is without it.
   */
  workflowStackTraces?: boolean;
}

export const defaultMaxWorkflowTasks = 200;
/**
 * Activity slots of a worker (`--max-activities`). An upload holds its slot while its registration waits
 * for a bulk call too: with 32, both cases of the benchmark ran at about half the speed they reached with
 * 64; 128 ran more copies at once than XRootD served well (2026-12-07).
 */
export const defaultMaxActivities = 64;

/** A worker's activity slots, from `--max-activities` or RUCIO_INGEST_MAX_ACTIVITIES (`what` names it). */
export function activitySlots(value: string | undefined, what: string): number {
  return wholeNumberIn(value, what, 1, 10_000, defaultMaxActivities);
}

/** A worker's workflow-task slots, from `--max-workflow-tasks` or RUCIO_INGEST_MAX_WORKFLOW_TASKS. */
export function workflowTaskSlots(value: string | undefined, what: string): number {
  return wholeNumberIn(value, what, 2, 10_000, defaultMaxWorkflowTasks);
}

export function workerConfigFromEnv(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  return {
    temporalAddress: env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233',
    namespace: env.TEMPORAL_NAMESPACE ?? 'default',
    taskQueue: env.RUCIO_INGEST_TASK_QUEUE ?? defaultTaskQueue,
    // The same bounds as the worker command's flags, which take their defaults from these.
    maxConcurrentActivities: activitySlots(env.RUCIO_INGEST_MAX_ACTIVITIES, 'RUCIO_INGEST_MAX_ACTIVITIES'),
    maxConcurrentWorkflowTasks: workflowTaskSlots(
      env.RUCIO_INGEST_MAX_WORKFLOW_TASKS,
      'RUCIO_INGEST_MAX_WORKFLOW_TASKS',
    ),
    metricsAddress: env.RUCIO_INGEST_METRICS_ADDRESS,
    workflowStackTraces: env.RUCIO_INGEST_WORKFLOW_STACK_TRACES === '1',
  };
}

/**
 * Read by the SDK's workflow threads when they start (patches/@temporalio+worker+*.patch: SDK 1.24 always
 * installs its promise hook). A thread takes a copy of the environment, so it is set before `Worker.create`.
 */
const sdkStackTraceSwitch = 'TEMPORAL_WORKFLOW_STACK_TRACES';

/** The pre-built workflow bundle (npm run build) when present; the TypeScript sources otherwise. */
function workflowSource(): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> {
  const bundle = fileURLToPath(new URL('../../dist/workflow-bundle.js', import.meta.url));
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.js') && fs.existsSync(bundle)) return { workflowBundle: { codePath: bundle } };
  return { workflowsPath: fileURLToPath(new URL('../workflows/index.ts', import.meta.url)) };
}

let runtimeInstalled = false;

const pinoLevel: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/** The SDK's level for a pino level, the inverse of `pinoLevel` ('fatal' and 'silent' keep errors). */
function sdkLevel(level: string): LogLevel {
  return (Object.keys(pinoLevel) as LogLevel[]).find((l) => pinoLevel[l] === level) ?? 'ERROR';
}

/**
 * Install the Temporal runtime once per process: metrics endpoint, quieter core logs and the SDK's own log
 * lines (core, workflow and activity logs) sent to pino as JSON when a logger is given, else to stderr.
 */
export function installRuntime(metricsAddress?: string, logger?: Logger): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({
    ...(logger
      ? {
          // The SDK's own lines (an activity's start, a task's completion) follow LOG_LEVEL too.
          logger: new DefaultLogger(sdkLevel(logger.level), (e) =>
            logger[pinoLevel[e.level]]({ ...e.meta }, e.message),
          ),
        }
      : {}),
    telemetryOptions: {
      // Forwarded, never printed by core itself: core writes straight to stdout, which would land between
      // the CLI's JSON summary and progress lines (seen: a core WARN in `ingest --wait --json` output).
      logging: { filter: makeTelemetryFilterString({ core: 'WARN' }), forward: {} },
      ...(metricsAddress ? { metrics: { prometheus: { bindAddress: metricsAddress } } } : {}),
    },
  });
}

/** A worker running the ingestion workflow and its activities, with its own Rucio client. */
export async function createIngestWorker(cfg: WorkerConfig, opts: { rucio?: RucioClient; logger?: Logger } = {}) {
  installRuntime(cfg.metricsAddress, opts.logger);
  const rucio = opts.rucio ?? RucioClient.fromEnvironment({ logger: opts.logger });
  const connection = await NativeConnection.connect({ address: cfg.temporalAddress });
  // The batch's activities start its files, ask how files ended that did not report, and carry the files'
  // reports; on the worker's own connection, a file started with eager start comes back to this worker with
  // its first workflow task, not through the task queue.
  const client = new Client({ connection, namespace: cfg.namespace });
  const reports = createReportActivities({ client });
  const source = workflowSource();
  opts.logger?.info(
    { workflowCode: source.workflowBundle ? 'pre-built bundle' : 'TypeScript sources (bundled at start)' },
    'worker starting',
  );
  process.env[sdkStackTraceSwitch] = cfg.workflowStackTraces ? 'on' : 'off';
  const worker = await Worker.create({
    connection,
    namespace: cfg.namespace,
    taskQueue: cfg.taskQueue,
    ...source,
    activities: {
      // A registration that ends its file reports it to the batch through the same gathered signals.
      ...createActivities({ rucio, account: rucio.config.account, reportToBatch: reports.reportToBatch }),
      ...createBatchActivities({ client }),
      ...reports,
      ...createStartActivities({ client }),
      ...createScanActivities(),
    },
    maxConcurrentActivityTaskExecutions: cfg.maxConcurrentActivities,
    maxConcurrentWorkflowTaskExecutions: cfg.maxConcurrentWorkflowTasks,
    // Give running uploads time to heartbeat their last progress before the process exits.
    shutdownGraceTime: '20s',
  });
  return {
    worker,
    async close() {
      await connection.close();
      if (!opts.rucio) await rucio.close();
    },
  };
}
