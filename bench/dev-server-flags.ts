/**
 * Which Temporal dev-server settings move the ceiling on this machine: each variant starts its own dev server
 * (a fresh SQLite file with the sandbox's pragmas, its own port), runs the ceiling's no-op file workflows
 * (bench/ceiling.ts) and stops it. Not part of `npm run bench`: it answers a tuning question once.
 * Run: npx tsx bench/dev-server-flags.ts [--workflows 600] [--port 27733] [variant ...]
 * Prints one JSON line per variant and workflow shape.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { layout } from '../src/sandbox/layout.js';
import { sqlitePragmas } from '../src/sandbox/temporal.js';
import { temporalCeiling } from './ceiling.js';

const partitions = ['matching.numTaskqueueReadPartitions=1', 'matching.numTaskqueueWritePartitions=1'];
const eager = ['system.enableActivityEagerExecution=true'];
/** Dynamic-config values per variant (`--dynamic-config-value`), on top of what the sandbox sets. */
const variants: Record<string, { dynamic: string[]; pragmas?: string[] }> = {
  sandbox: { dynamic: [] },
  'one-partition': { dynamic: partitions },
  'eager-activities': { dynamic: eager },
  'one-partition+eager': { dynamic: [...partitions, ...eager] },
  'synchronous-off': { dynamic: [], pragmas: ['journal_mode=WAL', 'synchronous=OFF', 'busy_timeout=10000'] },
};

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: { workflows: { type: 'string', default: '600' }, port: { type: 'string', default: '27733' } },
});
const chosen = positionals.length > 0 ? positionals : Object.keys(variants);
for (const v of chosen)
  if (!variants[v]) throw new Error(`unknown variant ${v}: one of ${Object.keys(variants).join(', ')}`);
const address = `127.0.0.1:${args.port}`;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rucio-ingest-dev-flags-'));

async function connectWithin(ms: number): Promise<Connection> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      return await Connection.connect({ address, connectTimeout: 1000 });
    } catch (err) {
      if (Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

try {
  for (const name of chosen) {
    const v = variants[name]!;
    const argv = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(args.port), '--headless'];
    argv.push('--db-filename', path.join(dir, `${name}.sqlite`), '--log-level', 'error');
    argv.push('--dynamic-config-value', 'frontend.enableServerVersionCheck=false');
    argv.push('--search-attribute', 'IngestStep=Keyword');
    for (const p of v.pragmas ?? sqlitePragmas) argv.push('--sqlite-pragma', p);
    for (const d of v.dynamic) argv.push('--dynamic-config-value', d);
    const server = spawn(layout().bin('temporal'), argv, { stdio: 'ignore' });
    try {
      const connection = await connectWithin(30_000);
      // The namespace and search attribute are ready a moment after the port opens.
      await new Promise((r) => setTimeout(r, 3000));
      const client = new Client({ connection });
      for (const workflow of ['noopFile', 'noopFileWithSteps'] as const) {
        const r = await temporalCeiling(client, {
          address,
          namespace: 'default',
          workflows: Number(args.workflows),
          workflow,
        });
        console.log(
          JSON.stringify({ variant: name, dynamicConfig: v.dynamic, pragmas: v.pragmas ?? sqlitePragmas, ...r }),
        );
      }
      await connection.close();
    } finally {
      server.kill('SIGTERM');
      await once(server, 'exit');
    }
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
