/**
 * The batch layer on the sandbox, through the built CLI (`node bin/rucio-ingest.js`, run `npm run build` after
 * changing src/):
 *  1. `ingest <dir> --wait --json` of N small generated files with one separate worker process: landing only,
 *     then the whole lifecycle (`--qos 1:SAFE-1 --delete-origin`) on fewer files. Wall time, files/s, MB/s,
 *     exit code, peak RSS of the worker and of the CLI.
 *  2. Events of the batch workflow per run (it continues as new after each page) and of the file workflows.
 *  3. Planning a manifest of a million lines (planBatch, in this process, nothing uploaded): wall time, peak
 *     RSS, planned manifest size; a page read at offset 0 and at the last page (no rescan).
 *  4. The same numbers scaled to a million files.
 * Run with the sandbox up: npx tsx bench/batch.ts [--files 1000] [--size-kb 1024] [--full-files 500] [--peer-processes 8] [--workers 1] [--concurrency 100]
 *   [--plan-lines 1000000] [--skip-plan] [--skip-landing] [--skip-full] [--worker-cpu-prof DIR] [--keep-work]
 *   (--keep-work also keeps the run's files on the RSE disks, removed otherwise)
 * Prints a table, then one JSON line with every number.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { createBatchActivities, readLines } from '../src/activities/batch.js';
import { planBatch } from '../src/planning/plan-batch.js';
import { layout } from '../src/sandbox/layout.js';
import { envExports } from '../src/sandbox/sandbox.js';
import { eraseRseFiles } from '../src/sandbox/scratch.js';
import { temporalAddress, temporalNamespace } from '../src/sandbox/temporal.js';
import { batchWorkflowId, defaultConcurrency, fileTemplateSchema } from '../src/shared/batch-input.js';
import { defaultMaxActivities } from '../src/workers/worker.js';
import { temporalCeiling, type CeilingResult } from './ceiling.js';
import { CoreUse, cpuSeconds, cpuSnapshot, sandboxRoots } from './cpu.js';
import { rucioUploadPeer, type PeerResult } from './peer-upload.js';

const { values: args } = parseArgs({
  options: {
    files: { type: 'string', default: '1000' },
    'size-kb': { type: 'string', default: '1024' },
    'full-files': { type: 'string', default: '500' },
    'plan-lines': { type: 'string', default: '1000000' },
    'skip-plan': { type: 'boolean', default: false },
    'skip-landing': { type: 'boolean', default: false },
    'skip-full': { type: 'boolean', default: false },
    'peer-processes': { type: 'string', default: '8' },
    'skip-peer': { type: 'boolean', default: false },
    workers: { type: 'string', default: '1' },
    /** Files in flight (the CLI's --concurrency), by default the CLI's. */
    concurrency: { type: 'string', default: String(defaultConcurrency) },
    /** Activity slots of each worker process (the worker's --max-activities), by default the worker's. */
    'max-activities': { type: 'string', default: String(defaultMaxActivities) },
    'skip-ceiling': { type: 'boolean', default: false },
    /** Write a V8 CPU profile of each worker process into this directory (where its time goes). */
    'worker-cpu-prof': { type: 'string' },
    /** Node/V8 flags for each worker process, space-separated (e.g. "--trace-gc"): tuning measured, not guessed. */
    'worker-node-flags': { type: 'string', default: '' },
    /** Keep the generated files and the worker and CLI logs (their directory is printed) instead of removing them. */
    'keep-work': { type: 'boolean', default: false },
  },
});
const count = (name: keyof typeof args): number => {
  const n = Number(args[name]);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} ${String(args[name])}: expected a positive integer`);
  return n;
};
const landingFiles = count('files');
const sizeKiB = count('size-kb');
const fullFiles = count('full-files');
const planLines = count('plan-lines');
const workerCount = count('workers');
const concurrency = count('concurrency');
const maxActivities = count('max-activities');

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'bin', 'rucio-ingest.js');
/** The batch workflow's default page (the CLI's hidden --page-size). */
const pageSize = 500;
/** The paper's batch. */
const paperFiles = 1_000_000;
const run = `bb-${Date.now().toString(36)}`;
const sandboxEnv = envExports();
for (const [k, v] of Object.entries(sandboxEnv)) process.env[k] = v;

const MiB = 1024 * 1024;
const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- memory of a process

/** A field of /proc/<pid>/status in KiB (VmRSS, VmHWM), undefined once the process is gone. */
function procStatusKiB(pid: number | 'self', field: 'VmRSS' | 'VmHWM'): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

/** Samples a process's VmRSS and VmHWM every 200 ms and keeps the highest (VmHWM only grows). */
class PeakMemory {
  rssKiB = 0;
  hwmKiB = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pid: number | 'self') {
    this.sample();
    this.timer = setInterval(() => this.sample(), 200);
    this.timer.unref();
  }

  sample(): void {
    this.rssKiB = Math.max(this.rssKiB, procStatusKiB(this.pid, 'VmRSS') ?? 0);
    this.hwmKiB = Math.max(this.hwmKiB, procStatusKiB(this.pid, 'VmHWM') ?? 0);
  }

  stop(): { sampledRssMiB: number; hwmMiB: number } {
    this.sample();
    clearInterval(this.timer);
    return { sampledRssMiB: round(this.rssKiB / 1024), hwmMiB: round(this.hwmKiB / 1024) };
  }
}

// ---------------------------------------------------------------- Temporal

async function hasRecentPoller(client: Client, taskQueue: string): Promise<boolean> {
  const res = await client.workflowService.describeTaskQueue({
    namespace: temporalNamespace,
    taskQueue: { name: taskQueue },
    taskQueueType: 1, // workflow tasks
  });
  const recent = Date.now() - 30_000;
  return (res.pollers ?? []).some((p) => Number(p.lastAccessTime?.seconds ?? 0) * 1000 > recent);
}

interface RunInfo {
  runId: string;
  status: string;
  historyLength: number;
  historySize: number;
  /** Start to close, seconds (closed runs only). */
  latency?: number;
  startMs: number;
  closeMs?: number;
}

/** Every execution a visibility query finds (closed ones have their final history length). */
async function listRuns(client: Client, query: string): Promise<RunInfo[]> {
  const out: RunInfo[] = [];
  for await (const w of client.workflow.list({ query, pageSize: 1000 }))
    out.push({
      runId: w.runId,
      status: w.status.name,
      historyLength: w.historyLength,
      historySize: w.historySize ?? 0,
      latency: w.closeTime ? (w.closeTime.getTime() - w.startTime.getTime()) / 1000 : undefined,
      startMs: w.startTime.getTime(),
      closeMs: w.closeTime?.getTime(),
    });
  return out;
}

/** Visibility lags behind the histories: ask again until `ready` holds (or give the last answer). */
async function listSettled(client: Client, query: string, ready: (r: RunInfo[]) => boolean): Promise<RunInfo[]> {
  let runs: RunInfo[] = [];
  for (let i = 0; i < 60; i++) {
    runs = await listRuns(client, query);
    if (ready(runs)) return runs;
    await sleep(1000);
  }
  console.error(`  (visibility not settled after 60 s for ${query}: ${runs.length} executions listed)`);
  return runs;
}

function percentiles(xs: number[]): { p50: number; p95: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => round(s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0);
  return { p50: at(0.5), p95: at(0.95), max: round(s[s.length - 1] ?? 0) };
}

function spread(xs: number[]): { min: number; mean: number; max: number } {
  if (xs.length === 0) return { min: 0, mean: 0, max: 0 };
  return { min: Math.min(...xs), mean: round(xs.reduce((a, b) => a + b, 0) / xs.length), max: Math.max(...xs) };
}

// ---------------------------------------------------------------- child processes

function exitOf(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
}

/**
 * Rucio REST calls so far, from the sandbox server's access log (token requests excluded): the workers are
 * other processes, so their clients' own counters are out of reach. Other load on the sandbox counts too.
 */
function rucioCalls(): number {
  const log = path.join(layout().logs, 'rucio-server.log');
  if (!fs.existsSync(log)) return 0;
  let n = 0;
  for (const line of fs.readFileSync(log, 'utf8').split('\n'))
    if (/"(GET|POST|PUT|DELETE) \//.test(line) && !line.includes('"POST /auth') && !line.includes('"GET /auth')) n += 1;
  return n;
}

interface CaseResult {
  restCalls: number;
  restCallsPerFile: number;
  name: string;
  files: number;
  bytes: number;
  wallSeconds: number;
  filesPerSecond: number;
  mbPerSecond: number;
  exitCode: number;
  outcome: { done: number; failed: number; cancelled: number };
  batchElapsedSeconds?: number;
  workerPeakRssMiB: number;
  workerSampledRssMiB: number;
  cliPeakRssMiB: number;
  cliSampledRssMiB: number;
  batchRuns: number;
  batchEventsPerRun: { min: number; mean: number; max: number };
  batchEventsTotal: number;
  batchHistoryBytesMax: number;
  batchEventsPerFile: number;
  fileWorkflows: number;
  fileEventsPerFile: { min: number; mean: number; max: number };
  latencySeconds: { p50: number; p95: number; max: number };
  cpuSeconds: Record<string, number>;
  /** Seconds and the share of the cores busy (and stolen by the host) in each phase of the run. */
  phases: Array<{ phase: string; seconds: number; busyPercent: number; stealPercent: number }>;
  workers: number;
  /** Uploads retried by the no-progress guard, and digest requests XRootD delayed (its 30 s wait). */
  noProgressRetries: number;
  digestDelays: number;
}

/** Sizes of the sandbox's XRootD logs now: what a case appends to them is read afterwards. */
function xrootdLogSizes(): Map<string, number> {
  const dir = layout().logs;
  const out = new Map<string, number>();
  for (const f of fs.readdirSync(dir))
    if (f.startsWith('xrootd-') && f.endsWith('.log')) out.set(path.join(dir, f), fs.statSync(path.join(dir, f)).size);
  return out;
}

/**
 * What went slow: uploads the no-progress guard retried (the workers' log), and requests XRootD put off
 * ("delaying request", its 30 s wait when its checksum queue is full) in what its logs gained since `before`.
 */
function slowSigns(
  workerLog: string,
  before: Map<string, number>,
): { noProgressRetries: number; digestDelays: number } {
  const text = fs.existsSync(workerLog) ? fs.readFileSync(workerLog, 'utf8') : '';
  let digestDelays = 0;
  for (const [log, size] of before) {
    const added = fs.readFileSync(log).subarray(size).toString('utf8');
    digestDelays += added.match(/delaying request/gi)?.length ?? 0;
  }
  return { noProgressRetries: text.match(/NO_PROGRESS|no byte moved/g)?.length ?? 0, digestDelays };
}

/** `n` files of `--size-kb` in `dir`, `<prefix>-<i>.dat`, each of its own content; their paths. */
function writeFiles(dir: string, prefix: string, n: number): string[] {
  fs.mkdirSync(dir, { recursive: true });
  const block = randomBytes(sizeKiB * 1024);
  return Array.from({ length: n }, (_, i) => {
    block.writeUInt32LE(i, 0); // distinct content per file
    const f = path.join(dir, `${prefix}-${String(i).padStart(6, '0')}.dat`);
    fs.writeFileSync(f, block);
    return f;
  });
}

/** Generate files, run the worker processes (--workers) and `ingest --wait --json` through the built CLI, then read the histories. */
async function batchCase(
  client: Client,
  name: string,
  files: number,
  extra: string[],
  work: string,
): Promise<CaseResult> {
  const batchId = `${run}-${name}`;
  const taskQueue = `rucio-ingest-${batchId}`;
  const dir = path.join(work, name);
  writeFiles(dir, batchId, files);
  const bytes = files * sizeKiB * 1024;
  console.error(`[${name}] ${files} files of ${sizeKiB} KiB in ${dir}; batch ${batchId}, task queue ${taskQueue}`);

  const env = { ...process.env, ...sandboxEnv };
  const workerLog = fs.openSync(path.join(work, `${name}-worker.log`), 'w');
  // Several worker processes on one task queue share the batch (scale-out on one host).
  const workers = Array.from({ length: workerCount }, () => {
    const profile = args['worker-cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', args['worker-cpu-prof']] : [];
    profile.push(...args['worker-node-flags'].split(' ').filter(Boolean));
    const child = spawn(
      process.execPath,
      [...profile, cli, 'worker', '--task-queue', taskQueue, '--max-activities', String(maxActivities)],
      {
        cwd: root,
        env,
        stdio: ['ignore', workerLog, workerLog],
      },
    );
    const w = { child, exit: exitOf(child), mem: new PeakMemory(child.pid!), done: false };
    void w.exit.then(() => (w.done = true));
    return w;
  });
  try {
    for (let t = 0; !(await hasRecentPoller(client, taskQueue)); t++) {
      if (workers.some((w) => w.done) || t > 120)
        throw new Error(`worker did not poll ${taskQueue}: see ${work}/${name}-worker.log`);
      await sleep(500);
    }

    const cliArgs = [
      ...['ingest', dir, '--scope', 'user.demo', '--dataset', `user.demo:${batchId}`, '--rse', 'LANDING-1'],
      ...[
        '--task-queue',
        taskQueue,
        '--batch-id',
        batchId,
        '--concurrency',
        String(concurrency),
        ...extra,
        '--wait',
        '--json',
      ],
    ];
    console.error(`[${name}] node bin/rucio-ingest.js ${cliArgs.join(' ')}`);
    const callsBefore = rucioCalls();
    const roots = sandboxRoots(layout().run);
    for (const w of workers) roots.set(w.child.pid!, 'worker');
    // The CLI is this process's child: once reaped, its CPU counts here (with the benchmark's own, small).
    roots.set(process.pid, 'cli');
    const cpuBefore = cpuSnapshot(roots);
    const xrootdBefore = xrootdLogSizes();
    const cores = new CoreUse();
    const startedAt = Date.now();
    const t0 = performance.now();
    const cliProc = spawn(process.execPath, [cli, ...cliArgs], {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', fs.openSync(path.join(work, `${name}-cli.stderr`), 'w')],
    });
    const cliMem = new PeakMemory(cliProc.pid!);
    let stdout = '';
    cliProc.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    const exitCode = await exitOf(cliProc);
    const wallSeconds = (performance.now() - t0) / 1000;
    const endedAt = Date.now();
    cores.stop();
    const restCalls = rucioCalls() - callsBefore;
    const cpu = cpuSeconds(cpuBefore, cpuSnapshot(roots));
    const cliPeak = cliMem.stop();
    let summary: {
      counts?: { done: number; failed: number; cancelled: number };
      elapsedSeconds?: number;
      runs?: number;
    } = {};
    try {
      summary = JSON.parse(stdout) as typeof summary;
    } catch {
      console.error(`[${name}] CLI printed no JSON summary (exit ${exitCode}): see ${work}/${name}-cli.stderr`);
    }
    console.error(`[${name}] exit ${exitCode} after ${wallSeconds.toFixed(1)} s`);

    // The workers are idle now: their high-water marks are final; then a graceful stop.
    for (const w of workers) {
      w.mem.sample();
      w.child.kill('SIGTERM');
    }
    for (const w of workers) {
      let grace: NodeJS.Timeout | undefined;
      const stopped = await Promise.race([
        w.exit.then(() => true),
        new Promise<boolean>((r) => (grace = setTimeout(() => r(false), 60_000))),
      ]);
      clearTimeout(grace);
      if (!stopped) {
        console.error(`[${name}] worker ${w.child.pid} still running 60 s after SIGTERM: SIGKILL`);
        w.child.kill('SIGKILL');
        await w.exit;
      }
    }
    const peaks = workers.map((w) => w.mem.stop());
    const workerPeak = {
      hwmMiB: Math.max(...peaks.map((p) => p.hwmMiB)),
      sampledRssMiB: Math.max(...peaks.map((p) => p.sampledRssMiB)),
    };
    const problems = slowSigns(path.join(work, `${name}-worker.log`), xrootdBefore);

    const batchRuns = await listSettled(
      client,
      `WorkflowId="${batchWorkflowId(batchId)}"`,
      (r) => r.length >= (summary.runs ?? 1) && r.every((x) => x.status !== 'RUNNING'),
    );
    const fileRuns = await listSettled(
      client,
      `RucioBatch="${batchId}" AND WorkflowType="ingestFile"`,
      (r) => r.length >= files && r.every((x) => x.status !== 'RUNNING'),
    );
    const perRun = batchRuns.map((r) => r.historyLength);
    // Where the run leaves cores idle: before its first file starts, while files start, the drain after
    // the last start, and the end after the last file.
    const firstStart = Math.min(...fileRuns.map((r) => r.startMs));
    const lastStart = Math.max(...fileRuns.map((r) => r.startMs));
    const lastClose = Math.max(...fileRuns.map((r) => r.closeMs ?? endedAt));
    const phases = (
      [
        ['start', startedAt, firstStart],
        ['flow', firstStart, lastStart],
        ['drain', lastStart, lastClose],
        ['end', lastClose, endedAt],
      ] as const
    ).map(([phase, from, to]) => {
      const use = cores.between(from, to);
      return {
        phase,
        seconds: round((to - from) / 1000, 1),
        busyPercent: Math.round(use.busy * 100),
        stealPercent: Math.round(use.steal * 100),
      };
    });
    const batchEventsTotal = perRun.reduce((a, b) => a + b, 0);
    return {
      name,
      files,
      bytes,
      wallSeconds: round(wallSeconds, 2),
      filesPerSecond: round(files / wallSeconds, 2),
      mbPerSecond: round(bytes / 1e6 / wallSeconds, 2),
      exitCode,
      outcome: summary.counts
        ? { done: summary.counts.done, failed: summary.counts.failed, cancelled: summary.counts.cancelled }
        : { done: 0, failed: 0, cancelled: 0 },
      batchElapsedSeconds: summary.elapsedSeconds,
      workerPeakRssMiB: workerPeak.hwmMiB,
      workerSampledRssMiB: workerPeak.sampledRssMiB,
      cliPeakRssMiB: cliPeak.hwmMiB,
      cliSampledRssMiB: cliPeak.sampledRssMiB,
      batchRuns: batchRuns.length,
      batchEventsPerRun: spread(perRun),
      batchEventsTotal,
      batchHistoryBytesMax: Math.max(0, ...batchRuns.map((r) => r.historySize)),
      batchEventsPerFile: round(batchEventsTotal / files, 2),
      restCalls,
      restCallsPerFile: round(restCalls / files, 2),
      fileWorkflows: fileRuns.length,
      fileEventsPerFile: spread(fileRuns.map((r) => r.historyLength)),
      latencySeconds: percentiles(fileRuns.flatMap((r) => (r.latency === undefined ? [] : [r.latency]))),
      cpuSeconds: cpu,
      phases,
      workers: workerCount,
      ...problems,
    };
  } finally {
    for (const w of workers)
      if (!w.done) {
        w.child.kill('SIGKILL');
        await w.exit;
      }
    fs.closeSync(workerLog);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- the peer and the ceiling

/** `rucio upload` on files of the same count and size as the landing case (new names: new DIDs). */
async function peerCase(
  work: string,
): Promise<PeerResult & { restCallsPerFile: number; cpuSeconds: Record<string, number> }> {
  const dir = path.join(work, 'peer');
  const files = writeFiles(dir, `${run}-peer`, landingFiles);
  const processes = count('peer-processes');
  console.error(`[peer] rucio upload of ${files.length} files of ${sizeKiB} KiB as ${processes} processes`);
  const roots = sandboxRoots(layout().run);
  roots.set(process.pid, 'rucio upload');
  const before = cpuSnapshot(roots);
  const callsBefore = rucioCalls();
  try {
    const r = await rucioUploadPeer({
      rucio: path.join(layout().venv, 'bin', 'rucio'),
      files,
      processes,
      rse: 'LANDING-1',
      scope: 'user.demo',
      env: { ...process.env, ...sandboxEnv },
    });
    const restCalls = rucioCalls() - callsBefore;
    console.error(
      `[peer] ${r.uploaded}/${r.files} uploaded in ${r.wallSeconds} s, exit codes ${r.exitCodes.join(' ')}`,
    );
    return {
      ...r,
      restCallsPerFile: round(restCalls / files.length, 2),
      cpuSeconds: cpuSeconds(before, cpuSnapshot(roots)),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- planning

interface PlanResult {
  lines: number;
  inputManifestBytes: number;
  wallSeconds: number;
  linesPerSecond: number;
  rssBeforeMiB: number;
  peakRssSampledMiB: number;
  vmHwmMiB: number;
  plannedManifestBytes: number;
  plannedBytesPerLine: number;
  pageReadMs: { first: number; middle: number; last: number };
  lastPageLines: number;
  pagePayloadBytes: number;
  pagePayloadBytesPerFile: number;
  readManifestPageMs: number;
}

/** Median of `n` timed calls, in ms. */
async function timeMedian(n: number, f: () => Promise<unknown>): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await f();
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  return round(ms[Math.floor(n / 2)]!, 2);
}

/** Byte offset of each line whose index is in `wanted` (one sequential pass, not timed). */
async function lineOffsets(file: string, wanted: number[]): Promise<Map<number, number>> {
  const want = new Set(wanted);
  const found = new Map<number, number>();
  if (want.has(0)) found.set(0, 0);
  let line = 0;
  let pos = 0;
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) {
    for (let i = chunk.indexOf(0x0a); i >= 0; i = chunk.indexOf(0x0a, i + 1)) {
      line += 1;
      if (want.has(line)) found.set(line, pos + i + 1);
    }
    pos += chunk.length;
  }
  return found;
}

async function planning(work: string): Promise<PlanResult> {
  const dir = path.join(work, 'plan');
  fs.mkdirSync(dir, { recursive: true });
  const source = path.join(dir, 'million.jsonl');
  const out = fs.createWriteStream(source);
  for (let i = 1; i <= planLines; i += 10_000) {
    let text = '';
    for (let j = i; j < i + 10_000 && j <= planLines; j++)
      text += `{"path":"/nonexistent/dir/f${String(j).padStart(7, '0')}.dat"}\n`;
    if (!out.write(text)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  const inputManifestBytes = fs.statSync(source).size;
  console.error(`[plan] ${planLines} lines (${(inputManifestBytes / 1e6).toFixed(1)} MB) in ${source}: planning`);

  const rssBefore = process.memoryUsage().rss;
  let peakRss = rssBefore;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 200);
  const manifestPath = path.join(dir, 'planned.jsonl');
  const t0 = performance.now();
  let ref;
  try {
    ref = await planBatch({
      sources: [source],
      namespace: { scope: 'user.demo', layout: 'flat', dataset: 'user.demo:bench', nameRule: 'keep' },
      metadata: {},
      excludeSuffixes: [],
      manifestPath,
    });
  } finally {
    clearInterval(sampler);
  }
  const wallSeconds = (performance.now() - t0) / 1000;
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  const vmHwm = procStatusKiB('self', 'VmHWM') ?? 0;
  console.error(`[plan] ${ref.files} files planned in ${wallSeconds.toFixed(1)} s, manifest ${ref.size} B`);

  const lastStart = Math.max(0, ref.files - pageSize);
  const midStart = Math.floor(ref.files / 2 / pageSize) * pageSize;
  const offsets = await lineOffsets(manifestPath, [0, midStart, lastStart]);
  const pageAt = async (line: number) => {
    const at = offsets.get(line)!;
    return { at, ms: await timeMedian(5, () => readLines(manifestPath, at, pageSize)) };
  };
  const first = await pageAt(0);
  const middle = await pageAt(midStart);
  const last = await pageAt(lastStart);
  const lastPage = await readLines(manifestPath, last.at, pageSize);
  if (!lastPage.eof) console.error(`[plan] the last page at byte ${last.at} does not end the manifest`);

  // One page as the batch workflow gets it: the activity's result, recorded in the batch's history.
  const template = fileTemplateSchema.parse({
    landingRse: 'LANDING-1',
    qos: [{ copies: 1, rseExpression: 'SAFE-1' }],
    mode: 'direct',
    deleteOrigin: true,
    allowEmpty: false,
    md5: true,
    ruleDeadlineSeconds: 24 * 3600,
  });
  // readManifestPage reads the file only; the client is for describeFiles.
  const activities = createBatchActivities({ client: undefined as unknown as Client });
  const pageInput = { manifest: ref, offset: 0, limit: pageSize, template, batchId: `${run}-plan` };
  const page = await activities.readManifestPage(pageInput);
  const readManifestPageMs = await timeMedian(5, () => activities.readManifestPage(pageInput));
  const pagePayloadBytes = Buffer.byteLength(JSON.stringify(page));
  fs.rmSync(dir, { recursive: true, force: true });
  return {
    lines: planLines,
    inputManifestBytes,
    wallSeconds: round(wallSeconds, 2),
    linesPerSecond: Math.round(ref.files / wallSeconds),
    rssBeforeMiB: round(rssBefore / MiB),
    peakRssSampledMiB: round(peakRss / MiB),
    vmHwmMiB: round(vmHwm / 1024),
    plannedManifestBytes: ref.size,
    plannedBytesPerLine: round(ref.size / ref.files),
    pageReadMs: { first: first.ms, middle: middle.ms, last: last.ms },
    lastPageLines: lastPage.lines.length,
    pagePayloadBytes,
    pagePayloadBytesPerFile: round(pagePayloadBytes / page.items.length),
    readManifestPageMs,
  };
}

// ---------------------------------------------------------------- report

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows
    .map((r, i) => {
      const line = r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
      return i === 0 ? `${line}\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : line;
    })
    .join('\n');
}

async function main(): Promise<void> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rucio-ingest-bench-batch-'));
  const connection = await Connection.connect({ address: temporalAddress });
  const client = new Client({ connection, namespace: temporalNamespace });
  const cases: CaseResult[] = [];
  let plan: PlanResult | undefined;
  let peer: Awaited<ReturnType<typeof peerCase>> | undefined;
  const ceilings: CeilingResult[] = [];
  const t0 = performance.now();
  const loadAtStart = os.loadavg().map((l) => round(l, 2));
  try {
    // Planning first: this process's VmHWM is then planning's, not the rest of the benchmark's.
    if (!args['skip-plan']) plan = await planning(work);
    if (!args['skip-landing']) cases.push(await batchCase(client, 'landing', landingFiles, [], work));
    if (!args['skip-full'])
      cases.push(await batchCase(client, 'full', fullFiles, ['--qos', '1:SAFE-1', '--delete-origin'], work));
    if (!args['skip-peer']) peer = await peerCase(work);
    if (!args['skip-ceiling'])
      for (const workflow of ['noopFile', 'noopFileWithSteps'] as const) {
        console.error(`[ceiling] ${landingFiles} ${workflow} workflows, no-op activities`);
        ceilings.push(
          await temporalCeiling(client, {
            address: temporalAddress,
            namespace: temporalNamespace,
            workflows: landingFiles,
            workflow,
          }),
        );
      }
  } finally {
    await connection.close();
    if (args['keep-work'])
      console.error(`kept: ${work}, and this run's files on the RSE disks (their names hold ${run})`);
    else {
      fs.rmSync(work, { recursive: true, force: true });
      // A run uploads gigabytes; runs add up until the disk is full.
      const erased = eraseRseFiles(run);
      console.error(
        `[cleanup] removed this run's ${erased.files} files (${Math.round(erased.bytes / MiB)} MiB) from the RSE disks`,
      );
    }
  }

  // A million files: runs from the page size, events per run as measured (the landing case, else the first).
  const ref = cases[0];
  const paperRuns = Math.ceil(paperFiles / pageSize);
  const paper = {
    files: paperFiles,
    pageSize,
    runs: paperRuns,
    eventsPerRun: ref?.batchEventsPerRun.mean ?? 0,
    batchEventsTotal: Math.round(paperRuns * (ref?.batchEventsPerRun.mean ?? 0)),
    fileEventsTotal: Math.round(paperFiles * (ref?.fileEventsPerFile.mean ?? 0)),
    manifestBytes: plan ? Math.round((plan.plannedManifestBytes / plan.lines) * paperFiles) : 0,
    pagePayloadBytes: plan?.pagePayloadBytes ?? 0,
    planSeconds: plan ? round((plan.wallSeconds / plan.lines) * paperFiles) : 0,
  };

  const rows: string[][] = [['case', ...cases.map((c) => c.name)]];
  const row = (label: string, f: (c: CaseResult) => string | number) =>
    rows.push([label, ...cases.map((c) => String(f(c)))]);
  row('files × size', (c) => `${c.files} × ${sizeKiB} KiB`);
  row('CLI options', (c) => (c.name === 'full' ? '--qos 1:SAFE-1 --delete-origin' : 'landing only'));
  row('exit code', (c) => c.exitCode);
  row('done / failed / cancelled', (c) => `${c.outcome.done} / ${c.outcome.failed} / ${c.outcome.cancelled}`);
  row('wall (CLI start to exit) s', (c) => c.wallSeconds.toFixed(1));
  row('batch elapsed (workflow) s', (c) => c.batchElapsedSeconds ?? '?');
  row('files/s', (c) => c.filesPerSecond.toFixed(2));
  row('MB/s (landed)', (c) => c.mbPerSecond.toFixed(2));
  row('worker processes', (c) => c.workers);
  row('worker peak RSS MiB (VmHWM)', (c) => c.workerPeakRssMiB.toFixed(1));
  row('no-progress retries / digest delays', (c) => `${c.noProgressRetries} / ${c.digestDelays}`);
  row('CLI peak RSS MiB (VmHWM)', (c) => c.cliPeakRssMiB.toFixed(1));
  row('batch runs', (c) => c.batchRuns);
  row(
    'batch events/run min/mean/max',
    (c) => `${c.batchEventsPerRun.min} / ${c.batchEventsPerRun.mean} / ${c.batchEventsPerRun.max}`,
  );
  row('batch events total (per file)', (c) => `${c.batchEventsTotal} (${c.batchEventsPerFile})`);
  row('batch history max/run KiB', (c) => (c.batchHistoryBytesMax / 1024).toFixed(1));
  row('file workflow events/file mean', (c) => `${c.fileEventsPerFile.mean} (${c.fileWorkflows} files)`);
  row('Rucio REST calls (per file)', (c) => `${c.restCalls} (${c.restCallsPerFile})`);
  row(
    'latency p50 / p95 / max s',
    (c) => `${c.latencySeconds.p50} / ${c.latencySeconds.p95} / ${c.latencySeconds.max}`,
  );
  row('phases: s (cores busy %, stolen %)', (c) =>
    c.phases.map((p) => `${p.phase} ${p.seconds} (${p.busyPercent}, ${p.stealPercent})`).join(', '),
  );
  for (const g of ['temporal', 'rucio-server', 'postgres', 'xrootd', 'worker', 'cli'])
    row(`CPU s: ${g}`, (c) => (c.cpuSeconds[g] ?? 0).toFixed(1));

  const load = { atStart: loadAtStart, atEnd: os.loadavg().map((l) => round(l, 2)) };
  console.log(
    `\nbatch layer, run ${run} (${os.cpus().length} CPUs, load average ${load.atStart.join(' ')} at start, ${load.atEnd.join(' ')} at end), ${((performance.now() - t0) / 1000).toFixed(0)} s`,
  );
  if (cases.length > 0) console.log(`\n${table(rows)}`);
  const landing = cases.find((c) => c.name === 'landing');
  if (peer || ceilings.length > 0) {
    const cmp: string[][] = [['peer and ceiling (same run)', 'files/s', 'ratio: landing ÷ this']];
    if (peer) {
      cmp.push([
        `rucio upload ×${peer.processes} (${peer.uploaded}/${peer.files} ok, ${peer.restCallsPerFile} calls/file)`,
        peer.filesPerSecond.toFixed(2),
        landing && peer.filesPerSecond > 0 ? (landing.filesPerSecond / peer.filesPerSecond).toFixed(2) : '-',
      ]);
      cmp.push([
        `  CPU s: rucio upload ${peer.cpuSeconds['rucio upload'] ?? 0}, rucio-server ${peer.cpuSeconds['rucio-server'] ?? 0}, xrootd ${peer.cpuSeconds.xrootd ?? 0}`,
        '',
        '',
      ]);
    }
    for (const c of ceilings)
      cmp.push([
        `Temporal ceiling: ${c.workflow} (${c.eventsPerWorkflow} events)`,
        c.workflowsPerSecond.toFixed(2),
        landing ? (landing.filesPerSecond / c.workflowsPerSecond).toFixed(2) : '-',
      ]);
    console.log(`\n${table(cmp)}`);
  }
  if (plan)
    console.log(
      `\n${table([
        ['planning (planBatch, no upload)', 'value'],
        ['manifest lines', `${plan.lines} (${(plan.inputManifestBytes / 1e6).toFixed(1)} MB)`],
        ['wall s', plan.wallSeconds.toFixed(1)],
        ['lines/s', String(plan.linesPerSecond)],
        ['RSS before / peak sampled MiB', `${plan.rssBeforeMiB} / ${plan.peakRssSampledMiB}`],
        ['process VmHWM MiB', String(plan.vmHwmMiB)],
        [
          'planned manifest MB (B/line)',
          `${(plan.plannedManifestBytes / 1e6).toFixed(1)} (${plan.plannedBytesPerLine})`,
        ],
        [
          `page of ${pageSize} at first/middle/last ms`,
          `${plan.pageReadMs.first} / ${plan.pageReadMs.middle} / ${plan.pageReadMs.last}`,
        ],
        ['readManifestPage ms', String(plan.readManifestPageMs)],
        ['page payload KiB (B/file)', `${(plan.pagePayloadBytes / 1024).toFixed(1)} (${plan.pagePayloadBytesPerFile})`],
      ])}`,
    );
  console.log(
    `\n${table([
      [`paper: ${paperFiles} files`, 'value'],
      [`batch runs (ceil(files / ${pageSize}))`, String(paper.runs)],
      ['events per run (measured mean)', String(paper.eventsPerRun)],
      ['batch events in all', String(paper.batchEventsTotal)],
      ['file workflow events in all', String(paper.fileEventsTotal)],
      ['planned manifest MB', (paper.manifestBytes / 1e6).toFixed(1)],
      ['payload of one page KiB', (paper.pagePayloadBytes / 1024).toFixed(1)],
      ['planning s', String(paper.planSeconds)],
    ])}\n`,
  );
  console.log(
    JSON.stringify({ bench: 'batch', run, cpus: os.cpus().length, load, sizeKiB, cases, peer, ceilings, plan, paper }),
  );
}

await main();
