import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { envExports } from '../../src/sandbox/sandbox.js';
import { checksumFile } from '../../src/storage/index.js';
import type { IngestResult } from '../../src/workflows/ingest-file.js';
import { tempDir, uniq, writeRandomFile } from '../fixtures/ingest.js';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../..', import.meta.url));

/** The CLI as a user runs it after `eval "$(rucio-ingest sandbox env)"`, in a new process. */
async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      cwd: repo,
      env: { ...process.env, ...envExports() },
      timeout: 200_000,
    });
    return { code: 0, out: stdout, err: stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: x.code ?? -1, out: x.stdout ?? '', err: x.stderr ?? '' };
  }
}

describe('rucio-ingest file --wait and status, as a user runs them', () => {
  const dir = tempDir();
  // A task queue no worker polls: the CLI must run one itself.
  const queue = uniq('cli-test');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('ingests a file with no worker running elsewhere, then status reads the result from history', async () => {
    const name = `${uniq('cli')}.fits`;
    const file = writeRandomFile(dir, name, 2 * 1024 * 1024);
    const sums = await checksumFile(file, { md5: true });
    const common = ['--scope', 'user.demo', '--dataset', 'user.demo:cli-tests', '--rse', 'LANDING-1'];
    const args = [...common, '--qos', '2:QOS=SAFE', '--meta', 'run=7', '--delete-origin', '--task-queue', queue];
    // Without --wait the file waits on the task queue; the same command with --wait follows it, running
    // a worker itself since none polls that queue.
    const r = await cli(['file', file, ...args, '--json']);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ workflowId: `ingest/user.demo:${name}`, started: true });
    const w = await cli(['file', file, ...args, '--wait', '--json']);
    expect(w.code, w.err).toBe(0);
    const result = JSON.parse(w.out) as IngestResult;
    expect(result).toMatchObject({ step: 'done', did: `user.demo:${name}`, checksums: sums, originDeleted: true });
    expect(fs.existsSync(file)).toBe(false);

    const s = await cli(['status', `ingest/user.demo:${name}`]);
    expect(s.code, s.err).toBe(0);
    expect(s.out).toMatch(/: COMPLETED/);
    expect(s.out).toContain(`adler32 ${sums.adler32}`);
    expect(s.out).toMatch(/verified: SAFE-1\(digest\) SAFE-2\(digest\)/);
  }, 240_000);

  it('a failure ends with a non-zero exit and says why; status shows it too', async () => {
    const name = `${uniq('cli-missing')}.fits`;
    const args = ['--scope', 'user.demo', '--dataset', 'user.demo:cli-tests', '--rse', 'LANDING-1'];
    const r = await cli(['file', path.join(dir, name), ...args, '--task-queue', queue, '--wait']);
    expect(r.code).toBe(1);
    // The previous test's CLI worker polled this queue moments ago; Temporal still lists it, so the CLI
    // first follows, then runs a worker itself once that poller is seen to be gone.
    expect(r.err).toMatch(/a worker polls task queue .*: following the file/);
    expect(r.err).toMatch(/no worker polls task queue .*: running one in this process/);
    expect(r.err).toMatch(/ingestion failed: source .* cannot be read: ENOENT/);
    const s = await cli(['status', `ingest/user.demo:${name}`, '--json']);
    expect(JSON.parse(s.out)).toMatchObject({ status: 'FAILED', failure: expect.stringMatching(/ENOENT/) });
  }, 240_000);
});
