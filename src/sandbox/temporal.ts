import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { searchAttributes } from '../shared/search-attributes.js';
import { HOST, ports, type Layout } from './layout.js';
import type { ManagedProcess } from './processes.js';

const run = promisify(execFile);

export const temporalAddress = `${HOST}:${ports.temporal}`;
export const temporalUiUrl = `http://${HOST}:${ports.temporalUi}`;
export const temporalNamespace = 'default';

/** A multi-day ingest must stay visible in the Web UI well after it ends; the dev default is 24 h. */
export const namespaceRetention = '720h';

/**
 * SQLite pragmas. The dev server keeps one SQLite connection, so every write waits for the previous
 * fsync: WAL turns each commit into an append, and synchronous=NORMAL syncs only at checkpoints.
 * A power cut may lose the last commits, never corrupt the file; a killed process loses nothing.
 * That is the right trade for a sandbox (synchronous=OFF would risk corruption on power loss).
 */
export const sqlitePragmas = ['journal_mode=WAL', 'synchronous=NORMAL', 'busy_timeout=10000'];

/**
 * Go's garbage collector for the dev server: it runs when the heap has grown by this many percent (Go's
 * default 100). 400 took a tenth off the server's CPU in the benchmark (landing only, 1000 files: 35.2 and
 * 34.7 s against 38.1 and 39.8, alternating, 2026-12-07) for about 820 MB of memory instead of 480. A
 * `GOGC` in the environment of `sandbox up` wins.
 */
const temporalGogc = process.env.GOGC ?? '400';

export function temporalProcess(l: Layout): ManagedProcess {
  const args = [
    'server',
    'start-dev',
    '--ip',
    HOST,
    '--port',
    String(ports.temporal),
    '--ui-port',
    String(ports.temporalUi),
    '--metrics-port',
    String(ports.temporalMetrics),
    '--db-filename',
    l.temporalDb,
    '--ui-disable-news-fetch',
    '--dynamic-config-value',
    'frontend.enableServerVersionCheck=false',
    // A file's upload goes back to its worker with the workflow task that scheduled it, when the worker has
    // a free slot: no trip through the task queue (about 2 ms of Temporal CPU a file here). Sites set it too.
    '--dynamic-config-value',
    'system.enableActivityEagerExecution=true',
    '--log-level',
    'warn',
  ];
  for (const p of sqlitePragmas) args.push('--sqlite-pragma', p);
  for (const [name, type] of Object.entries(searchAttributes)) args.push('--search-attribute', `${name}=${type}`);
  return { name: 'temporal', command: l.bin('temporal'), args, env: { ...process.env, GOGC: temporalGogc } };
}

export async function temporalHealthy(): Promise<boolean> {
  const connection = await Connection.connect({ address: temporalAddress, connectTimeout: 2000 });
  try {
    const res = await connection.workflowService.describeNamespace({ namespace: temporalNamespace });
    return res.namespaceInfo?.name === temporalNamespace;
  } finally {
    await connection.close();
  }
}

/**
 * Raise the namespace's retention and register the search attributes (idempotent). A server started before
 * an attribute was added to the list gets it here, without losing its database.
 */
export async function configureNamespace(l: Layout): Promise<void> {
  for (const [name, type] of Object.entries(searchAttributes)) {
    await run(l.bin('temporal'), [
      'operator',
      'search-attribute',
      'create',
      '--address',
      temporalAddress,
      '--namespace',
      temporalNamespace,
      '--name',
      name,
      '--type',
      type,
    ]).catch((err: { stderr?: string }) => {
      if (!/already exists/i.test(err.stderr ?? '')) throw err;
    });
  }
  await run(l.bin('temporal'), [
    'operator',
    'namespace',
    'update',
    '--address',
    temporalAddress,
    '--namespace',
    temporalNamespace,
    '--retention',
    namespaceRetention,
  ]);
}
