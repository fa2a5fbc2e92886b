import path from 'node:path';
import { Command, Option } from 'commander';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import {
  defaultTaskQueue,
  parseIngestInput,
  workflowIdFor,
  currentFlow,
  type IngestInput,
  type QosTarget,
} from '../shared/ingest-input.js';
import type { IngestProgress, IngestResult } from '../workflows/ingest-file.js';
import { saKeys } from '../workflows/search-attribute-keys.js';
import { didNameFor, isValidDidName, nameRules, type NameRule } from '../shared/did-naming.js';
import { connectClient, temporalTargetFromEnv } from './temporal-client.js';
import { CliWorker } from './cli-worker.js';
import {
  activitySlots,
  createIngestWorker,
  defaultMaxActivities,
  defaultMaxWorkflowTasks,
  workerConfigFromEnv,
  workflowTaskSlots,
} from '../workers/worker.js';
import { createLogger } from '../shared/logger.js';
import { fileSummary } from '../shared/file-summary.js';
import { describePending, innermostMessage, pendingActivities } from './pending.js';

const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

const qosUsage =
  'expected COPIES:RSE_EXPRESSION[:LIFETIME_SECONDS][,lifetime=S][,deadline=S][,grouping=ALL|DATASET|NONE], ' +
  'e.g. 2:QOS=SAFE or 1:QOS=CHEAP-ANALYSIS,lifetime=86400,deadline=7200';

/**
 * `2:QOS=SAFE`, `1:QOS=CHEAP-ANALYSIS:86400` or `2:QOS=SAFE,deadline=172800,grouping=DATASET` → a QoS target.
 * RSE expressions never contain commas, so options follow the expression after commas.
 */
export function parseQos(spec: string): QosTarget {
  const [head, ...opts] = spec.split(',');
  const m = /^(\d+):([^:]+)(?::(\d+))?$/.exec(head ?? '');
  if (!m) throw new Error(`--qos ${spec}: ${qosUsage}`);
  const target: QosTarget = {
    copies: Number(m[1]),
    rseExpression: m[2]!,
    lifetime: m[3] ? Number(m[3]) : undefined,
    grouping: 'NONE',
  };
  for (const opt of opts) {
    const [key, value = ''] = opt.split('=', 2);
    if ((key === 'lifetime' || key === 'deadline') && /^\d+$/.test(value)) {
      target[key === 'lifetime' ? 'lifetime' : 'deadlineSeconds'] = Number(value);
    } else if (key === 'grouping' && (value === 'ALL' || value === 'DATASET' || value === 'NONE')) {
      target.grouping = value;
    } else {
      throw new Error(`--qos ${spec}: cannot read "${opt}"; ${qosUsage}`);
    }
  }
  return target;
}

/** `k=v`, with numbers and booleans typed so Rucio's JSON metadata can be queried by value. */
export function parseMeta(pairs: string[]): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const p of pairs) {
    const i = p.indexOf('=');
    if (i <= 0) throw new Error(`--meta ${p}: expected KEY=VALUE`);
    const v = p.slice(i + 1);
    out[p.slice(0, i)] =
      v === 'true' ? true : v === 'false' ? false : v !== '' && Number.isFinite(Number(v)) ? Number(v) : v;
  }
  return out;
}

function parseDid(s: string, what: string): { scope: string; name: string } {
  const i = s.indexOf(':');
  if (i <= 0) throw new Error(`${what} ${s}: expected SCOPE:NAME`);
  return { scope: s.slice(0, i), name: s.slice(i + 1) };
}

export interface FileOpts {
  scope: string;
  name?: string;
  nameRule?: NameRule;
  dataset: string;
  container: string[];
  rse: string;
  qos: string[];
  meta: string[];
  mode: 'direct' | 'rucio';
  deleteOrigin?: boolean;
  allowEmpty?: boolean;
  originRse?: string;
  md5: boolean;
  ruleDeadline: string;
  heartbeatTimeout?: string;
  wait?: boolean;
  json?: boolean;
  taskQueue: string;
}

/** The lifecycle fields every file of a request shares, from the options of `file` or `ingest`. */
export function sharedFields(o: FileOpts) {
  return {
    landingRse: o.rse,
    qos: o.qos.map(parseQos),
    mode: o.mode,
    deleteOrigin: !!o.deleteOrigin,
    allowEmpty: !!o.allowEmpty,
    md5: o.md5,
    ruleDeadlineSeconds: Number(o.ruleDeadline),
    heartbeatTimeoutSeconds: o.heartbeatTimeout === undefined ? undefined : Number(o.heartbeatTimeout),
  };
}

export function buildInput(source: string, o: FileOpts): IngestInput {
  const fileName = path.basename(source);
  const name = o.name ?? didNameFor(fileName, o.nameRule ?? 'keep');
  if (!isValidDidName(name))
    throw new Error(
      `"${name}" is not a valid Rucio DID name (letters, digits, / . - _ only): pass --name, or --name-rule sanitize to replace the other characters with _`,
    );
  const metadata = parseMeta(o.meta);
  if (name !== fileName && o.name === undefined) metadata.original_name ??= fileName;
  return parseIngestInput({
    source: o.originRse
      ? { kind: 'rse', rse: o.originRse, pfn: source }
      : { kind: 'local', path: path.resolve(source) },
    did: { scope: o.scope, name },
    dataset: parseDid(o.dataset, '--dataset'),
    containers: o.container.map((c) => parseDid(c, '--container')),
    metadata,
    ...sharedFields(o),
  });
}

/** Start (or attach to) the file's workflow: one lifecycle per file, whatever happens. */
export async function startIngest(client: Client, input: IngestInput, taskQueue: string) {
  const workflowId = workflowIdFor(input.did);
  try {
    const handle = await client.workflow.start('ingestFile', {
      taskQueue,
      workflowId,
      args: [{ ...input, flow: currentFlow }],
      // Same file while running → attach; after it completed → report that run, never ingest twice;
      // after it failed (or was terminated) → a new run, once the cause is fixed: every step is idempotent.
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
      typedSearchAttributes: [
        { key: saKeys.scope, value: input.did.scope },
        { key: saKeys.dataset, value: `${input.dataset.scope}:${input.dataset.name}` },
        { key: saKeys.landingRse, value: input.landingRse },
        { key: saKeys.step, value: 'upload' },
      ],
      staticSummary: fileSummary(input),
    });
    return { handle, started: true };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError)
      return { handle: client.workflow.getHandle(workflowId), started: false };
    throw err;
  }
}

/**
 * The lifecycle options `file` and `ingest` share. For `ingest` none is required here: a profile may give
 * them, and the merged options are checked before anything starts.
 */
export function addLifecycleOptions(cmd: Command, forBatch = false): Command {
  const req = (flags: string, what: string) => (forBatch ? cmd.option(flags, what) : cmd.requiredOption(flags, what));
  req('--scope <scope>', 'Rucio scope of the files');
  if (!forBatch) cmd.option('--name <name>', 'DID name (default: the file name, see --name-rule)');
  cmd.addOption(
    new Option(
      '--name-rule <rule>',
      'file name → DID name: keep it, or sanitize characters Rucio refuses to _',
    ).choices(nameRules),
  );
  req(
    '--dataset <scope:name>',
    forBatch
      ? 'dataset of every file (flat layout; top of the tree in tree layout)'
      : 'dataset to attach the file to (created if missing)',
  );
  cmd.option('--container <scope:name>', 'container above the dataset, outermost first (repeatable)', collect);
  req('--rse <rse>', 'landing RSE');
  cmd
    .option(
      '--qos <copies:expression>',
      'QoS target, e.g. 2:QOS=SAFE or 1:QOS=CHEAP-ANALYSIS,lifetime=86400,deadline=7200,grouping=DATASET (repeatable)',
      collect,
    )
    .option('--meta <key=value>', 'metadata (repeatable)', collect)
    .addOption(new Option('--mode <mode>', 'replication mode (default direct)').choices(['direct', 'rucio']))
    .option('--delete-origin', 'delete the origin copy once every replica is verified')
    .option('--origin-rse <rse>', 'the source is a replica on this RSE (e.g. ONSITE-BUFFER)')
    .option('--allow-empty', 'accept a 0-byte file (refused by default as a likely incomplete write)')
    .option('--no-md5', 'skip md5 (adler32 is always computed)')
    .option(
      '--rule-deadline <seconds>',
      "rucio mode: report a rule not OK after this long (default 86400; a target's deadline=S overrides it)",
    )
    .option(
      '--heartbeat-timeout <seconds>',
      'retry a transfer or checksum that shows no progress for this long (default 30)',
    )
    .option('--task-queue <name>', 'Temporal task queue (default $RUCIO_INGEST_TASK_QUEUE or rucio-ingest)');
  return cmd;
}

/** Defaults of the lifecycle options, applied after a profile and the flags. */
export function withFileDefaults(o: Partial<FileOpts>): FileOpts {
  return {
    ...o,
    scope: o.scope ?? '',
    dataset: o.dataset ?? '',
    rse: o.rse ?? '',
    container: o.container ?? [],
    qos: o.qos ?? [],
    meta: o.meta ?? [],
    mode: o.mode ?? 'direct',
    nameRule: o.nameRule ?? 'keep',
    md5: o.md5 ?? true,
    ruleDeadline: o.ruleDeadline ?? String(24 * 3600),
    taskQueue: o.taskQueue ?? process.env.RUCIO_INGEST_TASK_QUEUE ?? defaultTaskQueue,
  };
}

export function fileCommand(): Command {
  return addLifecycleOptions(
    new Command('file')
      .description('ingest one file: upload → register → replicate → verify → (delete at origin)')
      .argument('<source>', 'local path, or with --origin-rse the PFN of the file on that RSE'),
  )
    .option('--wait', 'follow the file to the end')
    .option('--json', 'machine-readable output')
    .action(async (source: string, raw: Partial<FileOpts>) => {
      const o = withFileDefaults(raw);
      const input = buildInput(source, o);
      const target = temporalTargetFromEnv();
      const { client, close } = await connectClient(target);
      const say = (line: string) => {
        if (!o.json) console.error(line);
      };
      const worker = new CliWorker(client, target, o.taskQueue, say, 'rucio-ingest-file');
      try {
        const { handle, started } = await startIngest(client, input, o.taskQueue);
        say(`${started ? 'started' : 'already known'}: ${handle.workflowId}`);
        if (!o.wait) {
          if (o.json) console.log(JSON.stringify({ workflowId: handle.workflowId, started }));
          return;
        }
        await worker.ensure();
        const result = await followToEnd(client, handle, !!o.json);
        print(result, !!o.json);
      } finally {
        await worker.stop();
        await close();
      }
    });
}

async function followToEnd(client: Client, handle: WorkflowHandle, json: boolean) {
  let lastStep = '';
  let asking: Promise<void> | undefined;
  const timer = setInterval(() => {
    if (asking) return;
    // Each query has a deadline and is awaited before the command ends: none is left retrying on a closed
    // connection (that once crashed a successful `file --wait` with exit code 1).
    asking = client
      .withDeadline(Date.now() + 5000, () => handle.query<IngestProgress>('progress'))
      .then((p) => {
        if (!json && p.step !== lastStep) console.error(`  step: ${p.step}`);
        lastStep = p.step;
      })
      .catch(() => undefined)
      .finally(() => {
        asking = undefined;
      });
  }, 1000);
  try {
    return (await handle.result()) as IngestResult;
  } catch (err) {
    if (err instanceof WorkflowFailedError) {
      let cause: unknown = err.cause;
      while (cause && (cause as { cause?: unknown }).cause) cause = (cause as { cause?: unknown }).cause;
      throw new Error(`ingestion failed: ${(cause as Error | undefined)?.message ?? err.message}`);
    }
    throw err;
  } finally {
    clearInterval(timer);
    await asking;
  }
}

function print(result: IngestResult | IngestProgress, json: boolean): void {
  if (json) {
    console.log(JSON.stringify(result, null, 2));
    return;
  }
  const r = result as IngestResult;
  console.log(`${r.did ?? ''} ${r.step}`);
  if (r.checksums)
    console.log(
      `  ${r.checksums.bytes} bytes, adler32 ${r.checksums.adler32}${r.checksums.md5 ? `, md5 ${r.checksums.md5}` : ''}`,
    );
  if (r.landingPfn) console.log(`  landing: ${r.landingPfn}${r.alreadyOnLanding ? ' (already there)' : ''}`);
  for (const t of r.targets)
    console.log(
      `  ${t.target.copies}x ${t.target.rseExpression}: rule ${t.ruleId ?? '-'} ${t.state ?? ''} ${t.rses?.join(',') ?? ''}`,
    );
  if (r.verified) console.log(`  verified: ${r.verified.map((v) => `${v.rse}(${v.method})`).join(' ')}`);
  if (r.replicas) {
    console.log(
      `  replicas in Rucio: ${Object.entries(r.replicas)
        .map(([rse, state]) => `${rse} ${state}`)
        .join(', ')}`,
    );
  }
  if (r.originDeleted !== undefined) console.log(`  origin deleted: ${r.originDeleted}`);
  if (r.problem) console.log(`  problem: ${r.problem}`);
}

export function statusCommand(): Command {
  return new Command('status')
    .description("show a file's lifecycle: step, attempts, checksums, rules and replicas")
    .argument('<workflow-id>', 'e.g. ingest/user.demo:file.dat (see `rucio-ingest file`)')
    .option('--json', 'machine-readable output')
    .action(async (workflowId: string, o: { json?: boolean }) => {
      const { client, close } = await connectClient(temporalTargetFromEnv());
      try {
        const handle = client.workflow.getHandle(workflowId);
        const desc = await handle.describe();
        let p: IngestProgress | undefined;
        let failure: string | undefined;
        if (desc.status.name === 'COMPLETED') {
          p = (await handle.result()) as IngestResult; // kept in the history: no worker needed
        } else if (desc.status.name === 'FAILED') {
          failure = await handle.result().then(
            () => undefined,
            (err: unknown) => innermostMessage(err) ?? String(err),
          );
        }
        if (!p) {
          try {
            p = await handle.query<IngestProgress>('progress');
          } catch {
            p = undefined; // no worker to answer: the execution status is all there is
          }
        }
        const pending = pendingActivities(desc);
        if (o.json)
          console.log(JSON.stringify({ workflowId, status: desc.status.name, failure, pending, progress: p }, null, 2));
        else {
          console.log(`${workflowId}: ${desc.status.name}`);
          if (failure) console.log(`  failure: ${failure}`);
          for (const a of pending) console.log(`  running ${describePending(a)}`);
          if (p) print(p, false);
          else if (desc.status.name === 'RUNNING')
            console.log(`  (no worker answers on task queue ${desc.taskQueue}: start one with 'rucio-ingest worker')`);
        }
      } finally {
        await close();
      }
    });
}

export function workerCommand(): Command {
  return new Command('worker')
    .description('run a worker: executes file lifecycles from the task queue (SIGTERM: graceful stop)')
    .option('--task-queue <name>', 'Temporal task queue', process.env.RUCIO_INGEST_TASK_QUEUE ?? defaultTaskQueue)
    .option(
      '--max-activities <n>',
      'concurrent activities (uploads, copies, catalogue calls)',
      process.env.RUCIO_INGEST_MAX_ACTIVITIES ?? String(defaultMaxActivities),
    )
    .option(
      '--max-workflow-tasks <n>',
      'workflow tasks in progress at once (a file holds one while its catalogue calls gather into bulk calls)',
      process.env.RUCIO_INGEST_MAX_WORKFLOW_TASKS ?? String(defaultMaxWorkflowTasks),
    )
    .option('--metrics <host:port>', 'serve Prometheus metrics here, e.g. 127.0.0.1:9464')
    .action(async (o: { taskQueue: string; maxActivities: string; maxWorkflowTasks: string; metrics?: string }) => {
      const cfg = {
        ...workerConfigFromEnv(),
        taskQueue: o.taskQueue,
        maxConcurrentActivities: activitySlots(o.maxActivities, '--max-activities'),
        maxConcurrentWorkflowTasks: workflowTaskSlots(o.maxWorkflowTasks, '--max-workflow-tasks'),
        metricsAddress: o.metrics ?? process.env.RUCIO_INGEST_METRICS_ADDRESS,
      };
      const logger = createLogger('rucio-ingest-worker');
      const w = await createIngestWorker(cfg, { logger });
      console.error(
        `worker polling ${cfg.taskQueue} on ${cfg.temporalAddress}${cfg.metricsAddress ? `, metrics on http://${cfg.metricsAddress}/metrics` : ''}`,
      );
      try {
        await w.worker.run(); // returns after SIGINT/SIGTERM once in-flight tasks finish or the grace time ends
      } finally {
        await w.close();
      }
    });
}
