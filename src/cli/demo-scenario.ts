import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Client } from '@temporalio/client';
import { ScheduleOverlapPolicy, WorkflowFailedError } from '@temporalio/client';
import {
  scenarios,
  type BatchPlan,
  type ScenarioContext,
  type ScenarioName,
  type SchedulePlan,
} from '../demo/scenarios.js';
import { HOST, layout, rses } from '../sandbox/layout.js';
import { reapOnce } from '../sandbox/rucio-server.js';
import { envExports, up } from '../sandbox/sandbox.js';
import { temporalUiUrl } from '../sandbox/temporal.js';
import { formatBytes } from '../shared/file-summary.js';
import type { ScanResult } from '../shared/scan-input.js';
import { viewBatch } from './batch-client.js';
import { embeddedLogger } from './cli-worker.js';
import { createIngestWorker, workerConfigFromEnv } from '../workers/worker.js';
import { follow, ingestCommand } from './ingest-batch.js';
import { scheduleCommand } from './schedule-commands.js';
import { connectClient, type TemporalTarget } from './temporal-client.js';

/** What a scenario's run ended with: the closing line of the demo, and its JSON with --json. */
export interface ScenarioOutcome {
  scenario: ScenarioName;
  run: string;
  scale: number;
  files: number;
  done: number;
  failed: number;
  bytes: number;
  wallSeconds: number;
  filesPerSecond: number;
  batches: string[];
  scans?: number;
  /** Files still in the generated data at the end (with --delete-origin: those not ingested), a sample. */
  left: { count: number; sample: string[] };
  /** The download from the replica compared equal (virgo). */
  readBack?: boolean;
}

/** Data files still in the scenario's directory (not its trigger or sidecar files). */
function leftIn(root: string): ScenarioOutcome['left'] {
  const files = fs
    .readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && !/\.(trigger|meta)$/.test(e.name))
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)))
    .sort();
  return { count: files.length, sample: files.slice(0, 20) };
}

const taskQueue = 'rucio-ingest-demo';
const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Run a CLI subcommand in this process, as a user would type it; its exit code is returned. */
async function runCli(command: 'ingest' | 'schedule', args: string[]): Promise<number> {
  const before = process.exitCode;
  process.exitCode = undefined;
  const cmd = command === 'ingest' ? ingestCommand() : scheduleCommand();
  await cmd.parseAsync(args, { from: 'user' });
  const code = Number(process.exitCode ?? 0);
  process.exitCode = before;
  return code;
}

export async function runScenario(name: ScenarioName, scaleText: string | undefined, json: boolean): Promise<number> {
  const scenario = scenarios[name];
  const scale = scaleText === undefined ? scenario.demoScale : Number(scaleText);
  if (!(scale > 0 && scale <= 10))
    throw new Error(`--scale ${scaleText}: expected a number above 0 (1 is the seed's size)`);
  const say = (line: string) => (json ? console.error(line) : console.log(line));
  await up();
  const env = envExports();
  for (const [k, v] of Object.entries(env)) process.env[k] = v;
  const target: TemporalTarget = { address: env.TEMPORAL_ADDRESS!, namespace: env.TEMPORAL_NAMESPACE! };
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const run = `${name}-demo-${stamp}`;
  const onsite = rses.find((r) => r.name === 'ONSITE-BUFFER')!;
  const ctx: ScenarioContext = {
    root: fs.mkdtempSync(path.join(os.tmpdir(), `rucio-ingest-${name}-`)),
    run,
    scale,
    // The buffer's storage as XRootD serves it: its data directory, and the same path over davs.
    buffer: {
      rse: onsite.name,
      dir: path.join(layout().rseData(onsite.name), 'rucio', 'daq', run),
      url: `davs://${HOST}:${onsite.httpsPort}/rucio/daq/${run}`,
      owner: ownerOf(layout().rseData(onsite.name)),
    },
  };
  const { client, close } = await connectClient(target);
  // A worker of its own, always: a worker of an earlier demo may still look alive to Temporal for a minute.
  const log = embeddedLogger('rucio-ingest-demo');
  if (log.file) console.error(`worker log: ${log.file}`);
  const w = await createIngestWorker(
    { ...workerConfigFromEnv(), temporalAddress: target.address, namespace: target.namespace, taskQueue },
    { logger: log.logger },
  );
  let over = false;
  const running = w.worker.run().finally(() => {
    // Stopped before the scenario ended (SIGTERM, SIGINT): nobody would run its files, so do not wait on.
    if (!over) {
      console.error(`${name}: the demo's worker stopped before the scenario ended; its workflows wait for a worker`);
      process.exit(1);
    }
  });
  try {
    say(`${name}: ${scenario.summary} (scale ${Number(scale.toPrecision(3))}); data in ${ctx.root}`);
    const t0 = Date.now();
    const plan = scenario.plan(ctx);
    const outcome =
      plan.kind === 'batch'
        ? await runBatch(client, target, ctx, plan, json)
        : await runSchedules(client, ctx, plan, say);
    const result: ScenarioOutcome = {
      scenario: name,
      run: ctx.run,
      scale,
      ...outcome,
      wallSeconds: (Date.now() - t0) / 1000,
      filesPerSecond: 0,
      left: leftIn(plan.dataRoot ?? ctx.root),
    };
    result.filesPerSecond = result.done / result.wallSeconds;
    say(
      `\n${name} at scale ${Number(scale.toPrecision(3))}: ${result.done} of ${result.files} files done, ${result.failed} failed, ` +
        `${formatBytes(result.bytes)} in ${result.wallSeconds.toFixed(1)} s (${result.filesPerSecond.toFixed(2)} files/s, generation included)`,
    );
    say(`  Web UI:   ${webUiOf(result, target.namespace)}`);
    say(`  official client:  eval "$(rucio-ingest sandbox env)"; ${scenario.officialCheck(ctx)}`);
    if (json) console.log(JSON.stringify(result));
    return result.failed === 0 && result.done === result.files ? 0 : 1;
  } finally {
    over = true;
    w.worker.shutdown();
    await running;
    await w.close();
    await close();
    fs.rmSync(ctx.root, { recursive: true, force: true });
    // Only directories left in the buffer (Rucio's reaper took the files): tidy them; a file is left to Rucio.
    if (fs.existsSync(ctx.buffer.dir) && leftIn(ctx.buffer.dir).count === 0)
      fs.rmSync(ctx.buffer.dir, { recursive: true, force: true });
  }
}

function ownerOf(dir: string): { uid: number; gid: number } {
  const st = fs.statSync(dir, { throwIfNoEntry: false });
  return st ? { uid: st.uid, gid: st.gid } : { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
}

function webUiOf(r: ScenarioOutcome, namespace: string): string {
  return r.scans === undefined
    ? `${temporalUiUrl}/namespaces/${namespace}/workflows?query=${encodeURIComponent(`RucioBatch="${r.batches[0]}"`)}`
    : `${temporalUiUrl}/namespaces/${namespace}/schedules (each scan's batch: RucioBatch="<batch ID>")`;
}

async function runBatch(client: Client, target: TemporalTarget, ctx: ScenarioContext, plan: BatchPlan, json: boolean) {
  const code = await runCli('ingest', [plan.source, ...plan.args, '--task-queue', taskQueue, '--batch-id', ctx.run]);
  if (code !== 0) throw new Error(`the scenario's ingest request was refused (exit ${code})`);
  await follow(client, ctx.run, target, false, json ? (l) => console.error(l) : undefined);
  const s = (await viewBatch(client, ctx.run)).progress;
  if (plan.readBack) await readBack(ctx, plan.readBack, json ? (l) => console.error(l) : (l) => console.log(l));
  return {
    ...(plan.readBack ? { readBack: true } : {}),
    files: plan.files,
    done: s?.counts.done ?? 0,
    failed: s?.counts.failed ?? 0,
    bytes: s?.bytesDone ?? 0,
    batches: [ctx.run],
  };
}

/** A demo's last scan takes seconds; this bounds a wait that would otherwise hang the demo. */
const lastScanTimeoutMs = 180_000;

/**
 * Create the schedules, let the generator write a step each interval while they scan, then one last scan
 * each (triggered, after the one running): once it is over, every file written has been through a batch.
 */
async function runSchedules(client: Client, ctx: ScenarioContext, plan: SchedulePlan, say: (l: string) => void) {
  const every = `${Math.max(1, Math.round(plan.intervalMs / 1000))}s`;
  let files = 0;
  for (const s of plan.schedules) {
    const code = await runCli('schedule', [
      'create',
      s.name,
      s.directory,
      '--every',
      every,
      ...s.args,
      '--task-queue',
      taskQueue,
    ]);
    if (code !== 0) throw new Error(`schedule ${s.name} was refused (exit ${code})`);
  }
  try {
    for (let i = 0; i < plan.steps; i++) {
      const w = plan.step(i);
      files += w.files;
      say(`  step ${i + 1}/${plan.steps}: ${w.files} new files (${formatBytes(w.bytes)})`);
      await sleep(plan.intervalMs);
    }
    // Past any settle time of the last step's files.
    await sleep(2500);
    for (const s of plan.schedules) {
      const h = client.schedule.getHandle(s.name);
      await h.pause('demo over: a last scan, then deleted');
      const taken = (await h.describe()).info.numActionsTaken;
      // BUFFER_ALL: with BUFFER_ONE, a scheduled scan already waiting behind the running one makes Temporal
      // skip this one, and a paused schedule then drops the waiting one: no last scan would ever come.
      await h.trigger(ScheduleOverlapPolicy.BUFFER_ALL);
      const deadline = Date.now() + lastScanTimeoutMs;
      for (;;) {
        const d = await h.describe();
        if (d.info.numActionsTaken > taken && d.info.runningActions.length === 0) break;
        if (Date.now() > deadline)
          throw new Error(
            `schedule ${s.name}: its last scan did not end within ${lastScanTimeoutMs / 1000} s; ` +
              `see rucio-ingest schedule describe ${s.name} and the scans in the Web UI`,
          );
        await sleep(1000);
      }
    }
    const totals = { files, done: 0, failed: 0, bytes: 0, batches: [] as string[], scans: 0 };
    for (const s of plan.schedules) {
      for await (const w of client.workflow.list({ query: 'WorkflowType="scanDirectory"' })) {
        if (!w.workflowId.startsWith(`scan/${s.name}-`)) continue;
        totals.scans += 1;
        const r = await scanOutcome(client, w.workflowId, w.runId);
        if (!r?.batch) continue;
        totals.batches.push(r.batch.batchId);
        totals.done += r.batch.counts.done;
        totals.failed += r.batch.counts.failed;
        totals.bytes += r.batch.bytesDone;
      }
      say(`  schedule ${s.name}: rucio-ingest schedule describe ${s.name} (deleted at the end of the demo)`);
    }
    say(`  ${totals.scans} scans, ${totals.batches.length} took files: ${totals.batches.join(' ')}`);
    if (plan.reap) {
      // As the site's reaper daemon would, later: the origin replicas Rucio was handed go now.
      const r = await reapOnce(layout(), plan.reap);
      say(
        `  rucio-reaper over ${plan.reap.join(', ')}: the origin replicas handed to Rucio deleted (${r.seconds.toFixed(1)} s)`,
      );
    }
    return totals;
  } finally {
    for (const s of plan.schedules)
      await client.schedule
        .getHandle(s.name)
        .delete()
        .catch(() => undefined);
  }
}

async function scanOutcome(client: Client, workflowId: string, runId: string): Promise<ScanResult | undefined> {
  try {
    return (await client.workflow.getHandle(workflowId, runId).result()) as ScanResult;
  } catch (err) {
    // A scan that failed because files failed carries its result as the failure's details.
    if (err instanceof WorkflowFailedError) {
      const details = (err.cause as { details?: unknown[] } | undefined)?.details;
      return details?.[0] as ScanResult | undefined;
    }
    throw err;
  }
}

/**
 * Download one file from the RSE it was replicated to, with the official client, and compare it with what
 * was generated: the copy is readable and the same bytes, not only catalogued.
 */
async function readBack(ctx: ScenarioContext, r: NonNullable<BatchPlan['readBack']>, say: (l: string) => void) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rucio-ingest-download-'));
  try {
    await run(layout().bin('rucio'), ['download', '--rses', r.rse, '--dir', dir, '--no-subdir', r.did], {
      env: process.env,
      timeout: 300_000,
    });
    // The official client keeps the DID name's slashes as directories under --dir.
    const file = path.join(dir, ...r.did.slice(r.did.indexOf(':') + 1).split('/'));
    const got = createHash('sha256').update(fs.readFileSync(file)).digest('hex');
    if (got !== r.sha256) throw new Error(`${r.did} downloaded from ${r.rse} differs from the file generated`);
    say(`  read back: rucio download --rses ${r.rse} ${r.did}: the same bytes (sha256 ${got.slice(0, 16)}…)`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
