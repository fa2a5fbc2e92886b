import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { layout, rses } from '../../src/sandbox/layout.js';
import { envExports } from '../../src/sandbox/sandbox.js';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../..', import.meta.url));

/** The CLI as an operator runs it after `eval "$(rucio-ingest sandbox env)"`: exit code and stdout. */
async function checkRse(args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'check', 'rse', ...args], {
      cwd: repo,
      env: { ...process.env, ...envExports() },
    });
    return { code: 0, out: stdout };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

interface Report {
  scheme: string;
  ok: boolean;
  steps: Array<{ step: string; ok: boolean }>;
  digest?: string;
  tpc?: string;
  error?: string;
}

describe('rucio-ingest check rse', () => {
  it('writes, verifies by digest, copies by TPC and deletes a probe with every write protocol', async () => {
    // Bounded steps: a storage that stops answering fails the check with the step's name (the report
    // below), where it once held this test past vitest's timeout with nothing to show.
    const { code, out } = await checkRse(['LANDING-1', '--json', '--step-timeout', '30']);
    expect(code, out).toBe(0);
    const reports = (JSON.parse(out) as Record<string, Report[]>)['LANDING-1']!;
    expect(reports.map((r) => r.scheme).sort()).toEqual(['davs', 'https', 'root']);
    for (const r of reports) {
      expect(r.ok, `${r.scheme}: ${r.error}`).toBe(true);
      expect(r.digest).toMatch(/adler32/);
      expect(r.steps.map((s) => s.step)).toEqual(expect.arrayContaining(['write', 'digest', 'verify', 'delete']));
    }
    // XRootD here has HTTP-TPC enabled: the davs probe is copied server to server.
    expect(reports.find((r) => r.scheme === 'davs')!.tpc).toMatch(/^yes/);
    // The probes are gone from the storage.
    const probeDir = path.join(layout().rseData('LANDING-1'), 'rucio', '.rucio-ingest-preflight');
    expect(fs.existsSync(probeDir)).toBe(true);
    expect(fs.readdirSync(probeDir)).toEqual([]);
  }, 300_000);

  it('--all probes every RSE Rucio knows, in words an operator reads', async () => {
    const { code, out } = await checkRse(['--all']);
    expect(code, out).toBe(0);
    expect(out).toMatch(/^storage credentials: /m);
    for (const rse of rses) expect(out, rse.name).toMatch(new RegExp(`^${rse.name}\\b.*\\bOK\\b`, 'm'));
  }, 300_000);

  it('an unknown RSE: non-zero exit, the reason and where to look', async () => {
    const { code, out } = await checkRse(['NO-SUCH-RSE']);
    expect(code).toBe(1);
    expect(out).toMatch(/NO-SUCH-RSE: FAIL .*RSENotFound/);
    expect(out).toMatch(/rucio rse list/);
  }, 60_000);
});
