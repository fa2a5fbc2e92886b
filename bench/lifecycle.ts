/**
 * Lifecycle throughput on the sandbox: N generated files (LSST-like 18 MiB by default) through upload →
 * register → replicate (direct, 2:QOS=SAFE) → verify → delete at origin, all started at once on one
 * in-process worker. Prints files/s, MB/s landed, per-file latency percentiles and Rucio REST calls per
 * file. Run with the sandbox up: npx tsx bench/lifecycle.ts
 * Env: BENCH_FILES (default 100), BENCH_MIB (default 18), BENCH_ACTIVITIES (worker slots, default 32).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { buildInput, startIngest } from '../src/cli/ingest.js';
import { sandboxRucioClient } from '../src/sandbox/bootstrap.js';
import { envExports } from '../src/sandbox/sandbox.js';
import { eraseRseFiles } from '../src/sandbox/scratch.js';
import { temporalAddress, temporalNamespace } from '../src/sandbox/temporal.js';
import { createIngestWorker, workerConfigFromEnv } from '../src/workers/worker.js';
import type { IngestResult } from '../src/workflows/ingest-file.js';

const files = Number(process.env.BENCH_FILES ?? 100);
const mib = Number(process.env.BENCH_MIB ?? 18);
const slots = Number(process.env.BENCH_ACTIVITIES ?? 32);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  for (const [k, v] of Object.entries(envExports())) process.env[k] = v;
  const run = `bench-${Date.now().toString(36)}`;
  const taskQueue = `rucio-ingest-${run}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rucio-ingest-bench-'));
  console.log(`${files} files of ${mib} MiB, ${slots} activity slots, dataset user.demo:${run}`);
  const block = randomBytes(mib * 1024 * 1024);
  const paths = Array.from({ length: files }, (_, i) => {
    const p = path.join(dir, `${run}-${String(i).padStart(5, '0')}.fits`);
    block.writeUInt32LE(i, 0); // distinct content per file
    fs.writeFileSync(p, block);
    return p;
  });

  const rucio = sandboxRucioClient('ingest');
  const w = await createIngestWorker(
    {
      ...workerConfigFromEnv(),
      temporalAddress,
      namespace: temporalNamespace,
      taskQueue,
      maxConcurrentActivities: slots,
    },
    { rucio },
  );
  const running = w.worker.run();
  const connection = await Connection.connect({ address: temporalAddress });
  const client = new Client({ connection, namespace: temporalNamespace });
  try {
    const callsBefore = rucio.stats.apiCalls;
    const t0 = performance.now();
    const latencies = await Promise.all(
      paths.map(async (file) => {
        const input = buildInput(file, {
          scope: 'user.demo',
          dataset: `user.demo:${run}`,
          container: [],
          rse: 'LANDING-1',
          qos: ['2:QOS=SAFE'],
          meta: [`bench=${run}`],
          mode: 'direct',
          deleteOrigin: true,
          md5: true,
          ruleDeadline: '3600',
          taskQueue,
        });
        const started = performance.now();
        const { handle } = await startIngest(client, input, taskQueue);
        const r = (await handle.result()) as IngestResult;
        if (r.step !== 'done') throw new Error(`${r.did} ended in ${r.step}`);
        return performance.now() - started;
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    const calls = rucio.stats.apiCalls - callsBefore;
    latencies.sort((a, b) => a - b);
    const mb = (files * mib * 1024 * 1024) / 1e6;
    console.log(
      `wall ${seconds.toFixed(1)} s: ${(files / seconds).toFixed(2)} files/s, ${(mb / seconds).toFixed(1)} MB/s landed`,
    );
    console.log(`  (each file also copied twice, so storage wrote ${((3 * mb) / seconds).toFixed(1)} MB/s in all)`);
    console.log(
      `per-file latency: p50 ${(percentile(latencies, 50) / 1000).toFixed(1)} s, p95 ${(percentile(latencies, 95) / 1000).toFixed(1)} s, max ${(latencies.at(-1)! / 1000).toFixed(1)} s`,
    );
    console.log(`Rucio REST calls: ${calls} (${(calls / files).toFixed(1)} per file, tokens excluded)`);
  } finally {
    w.worker.shutdown();
    await running;
    await w.close();
    await connection.close();
    await rucio.close();
    fs.rmSync(dir, { recursive: true, force: true });
    eraseRseFiles(run); // three copies of every file: runs add up until the disk is full
  }
}

await main();
