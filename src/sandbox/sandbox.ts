import fs from 'node:fs';
import path from 'node:path';
import { bootstrapRucio } from './bootstrap.js';
import { install, type Say } from './install.js';
import { accounts, layout, ports, rses, secureStorage, type Layout } from './layout.js';
import { memcachedHealthy, memcachedProcess } from './memcached.js';
import { ensurePgCluster, ensureRucioDatabase, postgresHealthy, postgresProcess } from './postgres.js';
import { logFile, runningPid, startDetached, stopProcess, waitUntil, type ManagedProcess } from './processes.js';
import {
  clientConfig,
  initRucioDatabase,
  rucioHealthy,
  rucioEnv,
  rucioServerProcess,
  rucioUrl,
  writeRucioConfig,
} from './rucio-server.js';
import {
  configureNamespace,
  temporalAddress,
  temporalHealthy,
  temporalNamespace,
  temporalProcess,
  temporalUiUrl,
} from './temporal.js';
import { ensureCa, xrootdHealthy, xrootdProcess } from './xrootd.js';
import { watchdogName, watchdogProcess } from './xrootd-watchdog.js';
import { ensureX509Credentials, rucioTlsHealthy, rucioTlsProcess, rucioTlsUrl, x509ClientConfig } from './x509.js';

/** One part of the stack: how to start it and how to tell it is healthy. */
interface Part {
  name: string;
  process: () => ManagedProcess;
  healthy: () => Promise<boolean>;
  timeoutMs: number;
}

function parts(l: Layout): {
  temporal: Part;
  postgres: Part;
  memcached: Part;
  rucio: Part;
  rucioTls: Part;
  xrootd: Part[];
  watchdog: Part;
} {
  return {
    temporal: { name: 'temporal', process: () => temporalProcess(l), healthy: temporalHealthy, timeoutMs: 60_000 },
    postgres: { name: 'postgres', process: () => postgresProcess(l), healthy: postgresHealthy, timeoutMs: 60_000 },
    memcached: { name: 'memcached', process: memcachedProcess, healthy: memcachedHealthy, timeoutMs: 30_000 },
    rucio: { name: 'rucio-server', process: () => rucioServerProcess(l), healthy: rucioHealthy, timeoutMs: 90_000 },
    rucioTls: {
      name: 'rucio-server-tls',
      process: () => rucioTlsProcess(l, rucioEnv(l)),
      healthy: () => rucioTlsHealthy(l),
      timeoutMs: 90_000,
    },
    xrootd: [...rses, secureStorage].map((rse) => ({
      name: `xrootd-${rse.name}`,
      process: () => xrootdProcess(l, rse),
      healthy: () => xrootdHealthy(l, rse),
      timeoutMs: 30_000,
    })),
    watchdog: {
      name: watchdogName,
      process: () => watchdogProcess(l),
      healthy: () => Promise.resolve(runningPid(l.run, watchdogName) !== undefined),
      timeoutMs: 10_000,
    },
  };
}

/** Start `p` unless it already runs; then wait until healthy, naming its log on failure. */
async function ensureRunning(l: Layout, p: Part, say: Say): Promise<void> {
  const log = logFile(l.logs, p.name);
  if (runningPid(l.run, p.name) === undefined) {
    const proc = p.process();
    if (proc.name !== p.name) throw new Error(`internal: part ${p.name} started as ${proc.name}`);
    const pid = startDetached(proc, l.run, l.logs);
    say(`${p.name}: started (pid ${pid}, log ${log})`);
  }
  await waitUntil(p.healthy, `${p.name} failed its health check`, {
    timeoutMs: p.timeoutMs,
    log,
    pidOf: () => runningPid(l.run, p.name),
  });
}

function mkdirs(l: Layout): void {
  for (const d of [l.root, l.etc, l.logs, l.run, l.data]) fs.mkdirSync(d, { recursive: true });
}

/** Bring the whole sandbox up. Idempotent: seconds when already up. */
export async function up(say: Say = console.error, l: Layout = layout()): Promise<void> {
  const started = Date.now();
  mkdirs(l);
  await install(l, say);
  const p = parts(l);
  const temporal = (async () => {
    await ensureRunning(l, p.temporal, say);
    await once(l, 'temporal-namespace', () => configureNamespace(l));
  })();
  const ca = ensureCa(l);
  const rucio = (async () => {
    await ensurePgCluster(l);
    await ensureRunning(l, p.memcached, say);
    await ensureRunning(l, p.postgres, say);
    await ensureRucioDatabase(l);
    writeRucioConfig(l);
    await initRucioDatabase(l);
    await ensureRunning(l, p.rucio, say);
    await ca;
    await ensureX509Credentials(l);
    await ensureRunning(l, p.rucioTls, say);
  })();
  const storage = (async () => {
    await ca;
    await Promise.all(p.xrootd.map((x) => ensureRunning(l, x, say)));
    await ensureRunning(l, p.watchdog, say);
  })();
  // Let every part finish (or fail) before reporting, so one failure does not hide another.
  const results = await Promise.allSettled([temporal, rucio, storage]);
  const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failures.length > 0) {
    throw new Error(`sandbox up failed:\n${failures.map((f) => `  - ${(f.reason as Error).message}`).join('\n')}`);
  }
  await once(l, 'rucio-bootstrap', () => bootstrapRucio(say));
  clientConfig(l, 'ingest');
  x509ClientConfig(l);
  say(
    `sandbox up in ${((Date.now() - started) / 1000).toFixed(1)}s — Web UI ${temporalUiUrl}, Rucio ${rucioUrl} (x509: ${rucioTlsUrl})`,
  );
}

/**
 * Run a one-time setup step, remembered by a marker in the data directory (so it is redone when the
 * data is wiped). The marker holds the step's version: bump it to redo the step on existing sandboxes.
 */
const stepVersions: Record<string, string> = { 'temporal-namespace': '2', 'rucio-bootstrap': '5' };
async function once(l: Layout, step: string, fn: () => Promise<void>): Promise<void> {
  const marker = path.join(l.data, `.done-${step}`);
  const version = stepVersions[step] ?? '1';
  if (fs.existsSync(marker) && fs.readFileSync(marker, 'utf8') === version) return;
  await fn();
  fs.writeFileSync(marker, version);
}

/**
 * Crash one part (SIGKILL to its process group, no clean shutdown) — for failure drills and tests.
 * `up` brings it back. Returns false when the part was not running.
 */
export async function crashPart(name: string, l: Layout = layout()): Promise<boolean> {
  const pid = runningPid(l.run, name);
  if (pid === undefined) return false;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    process.kill(pid, 'SIGKILL');
  }
  while (runningPid(l.run, name) !== undefined) await new Promise((r) => setTimeout(r, 50));
  return true;
}

/** Stop only the processes `up` started, by their pid files, in reverse dependency order. */
export async function down(say: Say = console.error, l: Layout = layout()): Promise<void> {
  const p = parts(l);
  // The watchdog first: it would restart a storage being stopped.
  const order = [[p.watchdog], [p.rucio, p.rucioTls, ...p.xrootd, p.temporal], [p.postgres, p.memcached]];
  for (const group of order) {
    await Promise.all(
      group.map(async (part) => {
        if (await stopProcess(l.run, part.name, 20_000)) say(`${part.name}: stopped`);
      }),
    );
  }
}

export interface PartStatus {
  name: string;
  pid?: number;
  healthy: boolean;
  log: string;
}

export async function status(l: Layout = layout()): Promise<PartStatus[]> {
  const p = parts(l);
  const all = [p.temporal, p.postgres, p.memcached, p.rucio, p.rucioTls, ...p.xrootd, p.watchdog];
  return Promise.all(
    all.map(async (part) => ({
      name: part.name,
      pid: runningPid(l.run, part.name),
      healthy: await part.healthy().catch(() => false),
      log: logFile(l.logs, part.name),
    })),
  );
}

/** Shell exports to reach everything (Temporal, Rucio with the official CLI, the storage CA). */
export function envExports(l: Layout = layout()): Record<string, string> {
  return {
    TEMPORAL_ADDRESS: temporalAddress,
    TEMPORAL_NAMESPACE: temporalNamespace,
    RUCIO_CONFIG: l.rucioClientCfg,
    RUCIO_ACCOUNT: accounts.ingest.account,
    X509_CERT_DIR: path.join(l.ca, 'certs'),
    NODE_EXTRA_CA_CERTS: path.join(l.ca, 'ca.pem'),
    PATH: `${path.join(l.venv, 'bin')}:${process.env.PATH ?? ''}`,
    RUCIO_INGEST_TEMPORAL_UI: temporalUiUrl,
    // Batch manifests and the logs of workers the CLI runs: inside the sandbox, beside its data.
    RUCIO_INGEST_STATE_DIR: path.join(l.root, 'state'),
    RUCIO_INGEST_POSTGRES_PORT: String(ports.postgres),
  };
}
