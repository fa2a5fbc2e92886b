import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { RucioClient } from '../rucio/client.js';
import { buildPfn } from '../rucio/lfn2pfn.js';
import { getRse, listRses, type RseProtocol } from '../rucio/rses.js';
import { copy } from '../storage/copy.js';
import { StorageAuth } from '../storage/auth.js';
import { adapterFor } from '../storage/index.js';
import type { Checksums } from '../storage/types.js';
import { wholeNumberIn } from '../shared/request-error.js';

/** A probe is 4 KiB: any step of it takes milliseconds on a storage that works. */
const defaultStepTimeoutS = 60;

/** Schemes this engine can write with (others are listed as skipped). */
const SUPPORTED = new Set(['davs', 'https', 'root', 'file']);

interface ProtocolReport {
  scheme: string;
  endpoint: string;
  ok: boolean;
  steps: Array<{ step: string; ms: number; ok: boolean; detail?: string }>;
  digest?: string;
  tpc?: string;
  error?: string;
}

/** `rucio-ingest check rse <RSE> | --all`: write, verify and delete a probe file with every write protocol. */
export function checkRseSubcommand(): Command {
  return new Command('rse')
    .description(
      "probe an RSE's write protocols: write a small file, verify it by digest, test third-party copy, delete it",
    )
    .argument('[rse]', 'RSE name')
    .option('--all', 'every RSE Rucio knows')
    .option('--json', 'machine-readable output')
    .option(
      '--step-timeout <seconds>',
      'fail a step (write, digest, copy, delete) that has not finished in this long',
      String(defaultStepTimeoutS),
    )
    .action(async (rseName: string | undefined, opts: { all?: boolean; json?: boolean; stepTimeout?: string }) => {
      if (!rseName && !opts.all) throw new Error('name an RSE or pass --all');
      const stepMs = 1000 * wholeNumberIn(opts.stepTimeout, '--step-timeout', 1, 3600, defaultStepTimeoutS);
      const rucio = RucioClient.fromEnvironment();
      try {
        const names = opts.all ? await listRses(rucio) : [rseName!];
        // Which credentials the probe presents to storage (the same a worker presents): names, never secrets.
        if (!opts.json) console.log(`storage credentials: ${StorageAuth.fromEnv().describe()}`);
        const reports: Record<string, ProtocolReport[]> = {};
        let failed = false;
        for (const name of names) {
          let protocols: RseProtocol[];
          try {
            protocols = (await getRse(rucio, name)).protocols.filter(isWritable);
          } catch (err) {
            const reason = err instanceof Error ? err.message : String(err);
            reports[name] = [{ scheme: '', endpoint: '', ok: false, steps: [], error: reason }];
            failed = true;
            if (!opts.json) console.log(`${name}: FAIL ${reason} (the RSEs Rucio knows: rucio rse list)`);
            continue;
          }
          if (protocols.length === 0) {
            const reason = `no write protocol registered in Rucio (see: rucio rse show ${name})`;
            reports[name] = [{ scheme: '', endpoint: '', ok: false, steps: [], error: reason }];
            failed = true;
            if (!opts.json) console.log(`${name}: FAIL ${reason}`);
            continue;
          }
          reports[name] = [];
          for (const p of protocols) {
            const r = await probeProtocol(p, stepMs);
            reports[name].push(r);
            failed ||= !r.ok;
            if (!opts.json) printReport(name, r);
          }
        }
        if (opts.json) console.log(JSON.stringify(reports, null, 2));
        if (failed) process.exitCode = 1;
      } finally {
        await rucio.close();
      }
    });
}

function isWritable(p: RseProtocol): boolean {
  return (p.domains.wan?.write ?? 0) > 0 || (p.domains.lan?.write ?? 0) > 0;
}

/**
 * One step, timed and bounded: a storage that takes a request and never answers it (XRootD 5.5.3 now and
 * then does) fails the step after `limitMs`, naming it, instead of holding the check for a storage's own
 * timeouts (up to 10 minutes for a digest).
 */
async function timed<T>(
  r: ProtocolReport,
  step: string,
  limitMs: number,
  fn: (signal: AbortSignal) => Promise<T>,
  detail?: (v: T) => string,
): Promise<T> {
  const t0 = performance.now();
  const ac = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new Error(
        `${step}: no answer from the storage in ${limitMs / 1000} s (a slow storage: --step-timeout)`,
      );
      ac.abort(err);
      reject(err);
    }, limitMs);
  });
  try {
    // The race also ends a step whose call does not honour the signal.
    const v = await Promise.race([fn(ac.signal), expired]);
    r.steps.push({ step, ms: Math.round(performance.now() - t0), ok: true, detail: detail?.(v) });
    return v;
  } catch (err) {
    const message = ac.signal.aborted ? String((ac.signal.reason as Error).message) : errorText(err);
    r.steps.push({ step, ms: Math.round(performance.now() - t0), ok: false, detail: message });
    throw ac.signal.aborted ? ac.signal.reason : err;
  } finally {
    clearTimeout(timer);
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Write → digest → verify → TPC (https/davs) → delete, each step timed; cleans up whatever it created. */
async function probeProtocol(p: RseProtocol, stepMs: number): Promise<ProtocolReport> {
  const endpoint = `${p.scheme}://${p.hostname}:${p.port}`;
  const r: ProtocolReport = { scheme: p.scheme, endpoint, ok: true, steps: [] };
  if (!SUPPORTED.has(p.scheme)) {
    return { ...r, steps: [], error: `skipped: rucio-ingest does not write with ${p.scheme}` };
  }
  const id = `${os.hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
  const probeUrl = buildPfn(p, `.rucio-ingest-preflight/${id}.probe`);
  const tpcUrl = buildPfn(p, `.rucio-ingest-preflight/${id}.tpc-copy`);
  const local = path.join(os.tmpdir(), `rucio-ingest-preflight-${id}`);
  const adapter = adapterFor(probeUrl);
  const bytes = 4096;
  fs.writeFileSync(local, randomBytes(bytes));
  try {
    const sent: Checksums = (
      await timed(r, 'write', stepMs, (signal) =>
        adapter.upload(local, probeUrl, { md5: true, noProgressTimeoutMs: 30_000, signal }),
      )
    ).checksums;
    const digest = await timed(r, 'digest', stepMs, (signal) => adapter.digest(probeUrl, { md5: true, signal, bytes }));
    r.digest = [digest?.adler32 && 'adler32', digest?.md5 && 'md5'].filter(Boolean).join('+') || 'none (read-back)';
    const v = await timed(
      r,
      'verify',
      stepMs,
      (signal) => adapter.verify(probeUrl, sent, { signal }),
      (v) => v.method,
    );
    if (!v.ok) throw new Error(`verification failed: ${v.reason}`);
    if (p.scheme === 'davs' || p.scheme === 'https') {
      const c = await timed(
        r,
        'tpc',
        stepMs,
        (signal) => copy(probeUrl, tpcUrl, { expected: sent, noProgressTimeoutMs: 30_000, signal }),
        (c) => c.mode,
      );
      // Streaming works everywhere, so a refused TPC is reported, not a failure.
      r.tpc = c.mode === 'streamed' ? `no (${(c.notes ?? []).join('; ')})` : `yes (${c.mode})`;
      await timed(r, 'delete tpc copy', stepMs, (signal) => adapter.delete(tpcUrl, signal));
    }
    await timed(r, 'delete', stepMs, async (signal) => {
      if (!(await adapter.delete(probeUrl, signal))) throw new Error('the probe was already gone');
    });
  } catch (err) {
    r.ok = false;
    r.error = errorText(err);
    // Best effort, and bounded too: the report matters more than the leftover.
    for (const url of [probeUrl, tpcUrl]) {
      await adapter.delete(url, AbortSignal.timeout(stepMs)).catch(() => undefined);
    }
  } finally {
    fs.rmSync(local, { force: true });
  }
  return r;
}

function printReport(rse: string, r: ProtocolReport): void {
  const status = r.error?.startsWith('skipped') ? 'SKIP' : r.ok ? 'OK' : 'FAIL';
  const steps = r.steps.map((s) => `${s.step} ${s.ms} ms${s.ok ? '' : ' FAILED'}`).join(', ');
  console.log(`${rse} ${r.endpoint}: ${status}${steps ? ` — ${steps}` : ''}`);
  if (r.digest) console.log(`  digest: ${r.digest}`);
  if (r.tpc) console.log(`  third-party copy: ${r.tpc}`);
  if (r.error) console.log(`  ${r.ok ? 'note' : 'reason'}: ${r.error}`);
}
