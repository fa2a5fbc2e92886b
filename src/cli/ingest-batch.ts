import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import type { Client } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { compileMetaSchema } from '../policy/metadata.js';
import { validateNamespaceOptions, type NamespaceOptions } from '../policy/namespace.js';
import { loadProfile, ProfileError, type ProfileOptions } from '../policy/profile.js';
import { RseCache } from '../rucio/rse-cache.js';
import { RucioClient } from '../rucio/client.js';
import { RucioError } from '../rucio/errors.js';
import {
  batchIdPattern,
  batchWorkflowId,
  defaultConcurrency,
  fileTemplateSchema,
  type BatchInput,
  type FileTemplate,
} from '../shared/batch-input.js';
import { fileSummary, formatBytes } from '../shared/file-summary.js';
import { saKeys } from '../workflows/search-attribute-keys.js';
import { planBatch } from '../planning/plan-batch.js';
import { viewBatch } from './batch-client.js';
import { BatchProgress, exitCodeOf, progressLine, summaryText, webUiLink } from './batch-view.js';
import { CliWorker } from './cli-worker.js';
import { addLifecycleOptions, parseMeta, sharedFields, withFileDefaults, type FileOpts } from './ingest.js';
import { describeWaiting, type CompletenessRules, type WaitReason } from '../policy/completeness.js';
import { RequestError, wholeNumberIn } from '../shared/request-error.js';
import { stateDir } from './state-dir.js';
import { connectClient, temporalTargetFromEnv, type TemporalTarget } from './temporal-client.js';

const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

/** Everything `ingest` takes, from the profile and the flags (flags win). */
export type BatchOpts = Partial<FileOpts> & {
  profile?: string;
  layout?: 'flat' | 'tree';
  namePrefix?: string;
  pathPattern?: string;
  nameTemplate?: string;
  datasetTemplate?: string;
  containerTemplate?: string[];
  metaFromPath?: string[];
  metaSidecar?: string;
  metaSchema?: string;
  originUrl?: string;
  concurrency?: string | number;
  batchId?: string;
  pageSize?: string | number;
  settle?: string | number;
  triggerSuffix?: string;
  requireSidecar?: boolean;
  wait?: boolean;
  json?: boolean;
};

/** The profile's values, then every flag given on the command line over them. */
function mergeOptions(cmd: Command, flags: BatchOpts): BatchOpts {
  let profile: ProfileOptions = {};
  if (flags.profile) {
    try {
      profile = loadProfile(flags.profile);
    } catch (err) {
      if (err instanceof ProfileError) throw new RequestError(err.message);
      throw err;
    }
  }
  const given = Object.fromEntries(
    Object.entries(flags).filter(([k]) => cmd.getOptionValueSource(k) === 'cli'),
  ) as BatchOpts;
  const { meta: profileMeta, ...rest } = profile as ProfileOptions & {
    meta?: Record<string, string | number | boolean>;
  };
  const merged = { ...(rest as BatchOpts), ...given };
  // Profile metadata is a mapping, flags are KEY=VALUE: both are kept, flags win per key.
  const meta = { ...(profileMeta ?? {}), ...parseMeta(given.meta ?? []) };
  return { ...merged, meta: Object.entries(meta).map(([k, v]) => `${k}=${String(v)}`) };
}

function defaultBatchId(sources: string[]): string {
  const base = path.basename(path.resolve(sources[0] ?? 'batch')).replace(/\.(jsonl|ndjson|csv)$/, '');
  const stamp = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return `${base.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[^A-Za-z0-9]+/, '') || 'batch'}-${stamp}`;
}

/** The landing RSE and every QoS expression exist, and the credentials work: before anything is planned. */
export async function preflight(template: FileTemplate, scope: string): Promise<void> {
  let rucio: RucioClient;
  try {
    rucio = RucioClient.fromEnvironment();
  } catch (err) {
    throw new RequestError(`Rucio configuration: ${(err as Error).message}`);
  }
  try {
    const rses = new RseCache(rucio);
    await rses
      .pfn(template.landingRse, { scope, name: 'rucio-ingest-preflight' }, 'davs', 'write')
      .catch((err: unknown) => {
        throw new RequestError(`landing RSE ${template.landingRse} (--rse): ${(err as Error).message}`);
      });
    for (const t of template.qos) {
      const found = await rses.resolve(t.rseExpression).catch((err: unknown) => {
        throw new RequestError(`QoS target ${t.copies}:${t.rseExpression} (--qos): ${(err as Error).message}`);
      });
      if (found.length < t.copies)
        throw new RequestError(
          `QoS target ${t.copies}:${t.rseExpression} (--qos): the expression matches ${found.length} RSE(s) (${found.join(', ') || 'none'}), fewer than the copies asked`,
        );
    }
  } catch (err) {
    if (err instanceof RucioError) throw new RequestError(`Rucio: ${err.message}`);
    throw err;
  } finally {
    await rucio.close();
  }
}

/** The options `ingest` and `schedule create` share: the lifecycle's, naming, metadata, completeness, window. */
export function addBatchOptions(cmd: Command): Command {
  cmd.option('--profile <file.yaml>', 'options of an experiment kept in a YAML file (flags override it)');
  addLifecycleOptions(cmd, true);
  return cmd
    .addOption(
      new Option(
        '--layout <layout>',
        'namespace: flat (one dataset) or tree (directories → datasets and containers)',
      ).choices(['flat', 'tree']),
    )
    .option('--name-prefix <prefix>', 'put this before every DID name (files, datasets, containers)')
    .option('--path-pattern <regex>', 'regex with named groups over the relative path, for the templates below')
    .option('--name-template <template>', 'DID name from {group} placeholders (also {path} {dir} {file} {stem})')
    .option('--dataset-template <template>', 'dataset name from placeholders')
    .option('--container-template <template>', 'container above the dataset, outermost first (repeatable)', collect)
    .option('--meta-from-path <group>', 'a --path-pattern group that becomes metadata (repeatable)', collect)
    .option(
      '--meta-sidecar <suffix>',
      'merge the JSON object of <file><suffix> into its metadata (e.g. .meta); sidecars are not ingested',
    )
    .option('--meta-schema <schema.json>', "every file's metadata must satisfy this JSON Schema before it is uploaded")
    .option('--settle <seconds>', 'take a file of a directory only once nothing has written to it for this long')
    .option(
      '--trigger-suffix <suffix>',
      'take a file only once <file><suffix> exists; the trigger is removed when done',
    )
    .option('--require-sidecar', 'take a file only once its --meta-sidecar file exists')
    .option(
      '--origin-url <url>',
      'with --origin-rse and a directory: the URL at which the RSE serves that directory (files are its replicas)',
    )
    .option(
      '--concurrency <n>',
      `files in flight at once (default ${defaultConcurrency}; about the activity slots of the workers polling)`,
    )
    .addOption(new Option('--page-size <n>', 'manifest lines per page of the batch workflow (default 500)').hideHelp());
}

export function ingestCommand(): Command {
  const cmd = new Command('ingest')
    .description('ingest a night: every file of directories and manifests, as one durable batch')
    .argument(
      '<sources...>',
      'directories, or manifests (.jsonl with {"path", "name"?, "dataset"?, "meta"?}, or .csv with a path column)',
    );
  addBatchOptions(cmd)
    .option(
      '--batch-id <id>',
      'name of the batch (default: from the source and the time); the same ID again attaches to it',
    )
    .option('--wait', 'follow the batch to its end: progress, then a summary (exit 0 all done, 1 some failed)')
    .option('--json', 'print the summary as JSON')
    .action(async (sources: string[], flags: BatchOpts) => {
      process.exitCode = await runIngest(cmd, sources, flags);
    });
  return cmd;
}

/** A batch request from the profile and the flags, checked: what planning a batch (now or by a schedule) takes. */
export interface BatchRequest {
  o: BatchOpts;
  f: FileOpts & { scope: string; rse: string };
  namespace: NamespaceOptions;
  completeness: CompletenessRules;
  concurrency: number;
  pageSize: number;
}

export function batchRequestOf(cmd: Command, flags: BatchOpts): BatchRequest {
  const o = mergeOptions(cmd, flags);
  const f = withFileDefaults(o);
  if (!f.scope) throw new RequestError('--scope is required (on the command line or in the profile)');
  if (!f.rse) throw new RequestError('--rse is required (on the command line or in the profile)');
  const concurrency = wholeNumberIn(o.concurrency, '--concurrency', 1, 2000, defaultConcurrency);
  // 500 lines are ~300 KiB of activity result: under Temporal's 512 KB payload warning.
  const pageSize = wholeNumberIn(o.pageSize, '--page-size', 1, 500, 500);
  if (o.originUrl !== undefined) {
    if (!f.originRse) throw new RequestError('--origin-url needs --origin-rse: the RSE that serves the directory');
    if (!/^(davs|https|root):\/\/[^/]+\//.test(o.originUrl))
      throw new RequestError(`--origin-url ${o.originUrl}: expected davs://host:port/path (or https://, root://)`);
  }
  if (o.requireSidecar && !o.metaSidecar)
    throw new RequestError('--require-sidecar needs --meta-sidecar SUFFIX: the sidecar that must exist');
  if (o.triggerSuffix !== undefined && (o.triggerSuffix === '' || o.triggerSuffix.includes('/')))
    throw new RequestError(`--trigger-suffix ${o.triggerSuffix}: expected a file name suffix such as .trigger`);
  const completeness: CompletenessRules = {
    settleSeconds: wholeNumberIn(o.settle, '--settle', 0, 7 * 86400, 0),
    triggerSuffix: o.triggerSuffix,
    requiredSidecar: o.requireSidecar ? o.metaSidecar : undefined,
  };
  const namespace: NamespaceOptions = {
    scope: f.scope,
    layout: o.layout ?? 'flat',
    dataset: f.dataset || undefined,
    containers: f.container,
    nameRule: f.nameRule ?? 'keep',
    namePrefix: o.namePrefix,
    pathPattern: o.pathPattern,
    nameTemplate: o.nameTemplate,
    datasetTemplate: o.datasetTemplate,
    containerTemplates: o.containerTemplate,
    metaFromPath: o.metaFromPath,
  };
  const nsProblems = validateNamespaceOptions(namespace);
  if (nsProblems.length > 0) throw new RequestError(nsProblems.join('\n'));
  return { o, f: f as BatchRequest['f'], namespace, completeness, concurrency, pageSize };
}

async function runIngest(cmd: Command, sources: string[], flags: BatchOpts): Promise<number> {
  const { o, f, namespace, completeness, concurrency, pageSize } = batchRequestOf(cmd, flags);
  const batchId = o.batchId ?? defaultBatchId(sources);
  if (!batchIdPattern.test(batchId))
    throw new RequestError(
      `--batch-id ${batchId}: letters, digits, . _ - only (up to 128), starting with a letter or digit`,
    );
  const dir = path.join(stateDir(), 'batches', batchId);
  const target = temporalTargetFromEnv();
  const { client, close } = await connectClient(target);
  const say = (line: string) => {
    if (!o.json) console.error(line);
  };
  const worker = new CliWorker(client, target, f.taskQueue, say, 'rucio-ingest-batch', 'the batch');
  try {
    const handle = client.workflow.getHandle(batchWorkflowId(batchId));
    const existing = await handle.describe().catch(() => undefined);
    if (existing) {
      say(`batch ${batchId} exists (${existing.status.name}): attaching to it, nothing new is planned`);
    } else {
      const template = buildTemplate(f, o, dir);
      await preflight(template, f.scope);
      say(`planning batch ${batchId} from ${sources.join(', ')} ...`);
      const waiting: Partial<Record<WaitReason, number>> = {};
      const manifest = await planBatch({
        sources,
        namespace,
        metadata: parseMeta(f.meta),
        originRse: f.originRse,
        originUrl: o.originUrl,
        excludeSuffixes: o.metaSidecar ? [o.metaSidecar] : [],
        manifestPath: path.join(dir, 'manifest.jsonl'),
        completeness,
        waiting,
      });
      const waitingText = describeWaiting(waiting);
      if (waitingText) say(`not complete yet, left for a later run: ${waitingText}`);
      const description = `${manifest.files} files, ${fileSummary(template, manifest.bytes)}`;
      const input: BatchInput = {
        batchId,
        manifest,
        template,
        taskQueue: f.taskQueue,
        concurrency,
        pageSize,
        description,
      };
      try {
        await client.workflow.start('ingestBatch', {
          workflowId: batchWorkflowId(batchId),
          taskQueue: f.taskQueue,
          args: [input],
          typedSearchAttributes: [
            { key: saKeys.batch, value: batchId },
            { key: saKeys.scope, value: f.scope },
          ],
          staticSummary: description,
        });
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        say(`batch ${batchId} was started meanwhile: attaching to it`);
      }
      say(`batch ${batchId}: ${manifest.files} files, ${formatBytes(manifest.bytes)}; manifest ${manifest.path}`);
    }
    say(`  follow: rucio-ingest batch status ${batchId}    Web UI: ${webUiLink(batchId, target.namespace)}`);
    if (!o.wait) {
      if (o.json) console.log(JSON.stringify({ batchId, workflowId: batchWorkflowId(batchId) }));
      return 0;
    }
    await worker.ensure();
    const end = await follow(client, batchId, target, !!o.json);
    return end;
  } finally {
    await worker.stop();
    await close();
  }
}

/** What every file shares, validated; a metadata schema is checked and copied beside the manifest. */
export function buildTemplate(f: FileOpts, o: BatchOpts, dir: string): FileTemplate {
  let metaSchema: FileTemplate['metaSchema'];
  if (o.metaSchema) {
    let text: Buffer;
    try {
      text = fs.readFileSync(o.metaSchema);
    } catch (err) {
      throw new RequestError(
        `--meta-schema ${o.metaSchema}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    }
    try {
      compileMetaSchema(JSON.parse(text.toString('utf8')) as unknown, o.metaSchema);
    } catch (err) {
      throw new RequestError(`--meta-schema ${o.metaSchema}: ${(err as Error).message}`);
    }
    // Workers read it from the state directory, as they read the manifest (a shared file system).
    fs.mkdirSync(dir, { recursive: true });
    const copy = path.join(dir, 'meta-schema.json');
    fs.writeFileSync(copy, text);
    metaSchema = { path: copy, sha256: createHash('sha256').update(text).digest('hex') };
  }
  let shared;
  try {
    shared = sharedFields(f);
  } catch (err) {
    throw new RequestError((err as Error).message);
  }
  const r = fileTemplateSchema.safeParse({
    ...shared,
    metaSidecarSuffix: o.metaSidecar,
    metaSchema,
  });
  if (!r.success)
    throw new RequestError(
      `invalid options: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  return r.data;
}

/** Follow a batch to its end, then print the summary; the exit code says whether every file is done. */
export async function follow(
  client: Client,
  batchId: string,
  target: TemporalTarget,
  json: boolean,
  out: (text: string) => void = (t) => console.log(t),
): Promise<number> {
  const interactive = !json && process.stderr.isTTY === true;
  const view = new BatchProgress(interactive);
  // Each look is a query the batch's worker answers: once a second for a person watching, else every 5 s.
  const everyMs = interactive ? 1000 : 5000;
  const handle = client.workflow.getHandle(batchWorkflowId(batchId));
  // The batch's end wakes the loop at once (the result follows the batch's continue-as-new runs): the
  // command returns when the batch does, not up to a look later. Its outcome is read below, not here.
  const ended = handle.result().then(
    () => undefined,
    () => undefined,
  );
  let last;
  try {
    for (;;) {
      const v = await viewBatch(client, batchId);
      if (v.progress) {
        last = v.progress;
        if (!json) view.update(v.progress);
      }
      if (v.execution !== 'RUNNING') break;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([new Promise((r) => (timer = setTimeout(r, everyMs))), ended]);
      clearTimeout(timer);
    }
  } finally {
    view.stop();
  }
  const final = (await viewBatch(client, batchId)).progress ?? last;
  const execution = (await handle.describe()).status.name;
  if (!final) {
    console.error(`batch ${batchId} ended ${execution} with no status to show`);
    return 1;
  }
  if (json) out(JSON.stringify({ ...final, execution }, null, 2));
  else {
    if (!process.stderr.isTTY) console.error(progressLine(final));
    out(summaryText(final, target.namespace));
  }
  return exitCodeOf(final);
}
