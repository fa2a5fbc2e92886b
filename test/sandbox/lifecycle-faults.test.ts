import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { startIngest } from '../../src/cli/ingest.js';
import { describePending, pendingActivities } from '../../src/cli/pending.js';
import { RucioClient } from '../../src/rucio/client.js';
import { layout } from '../../src/sandbox/layout.js';
import { runningPid } from '../../src/sandbox/processes.js';
import { hashLfnPath } from '../../src/rucio/lfn2pfn.js';
import { rucioDaemonsOnce, rucioUrl } from '../../src/sandbox/rucio-server.js';
import { crashPart, up } from '../../src/sandbox/sandbox.js';
import { checksumFile } from '../../src/storage/index.js';
import type { IngestProgress, IngestResult } from '../../src/workflows/ingest-file.js';
import { saKeys } from '../../src/workflows/search-attribute-keys.js';
import { fileInput, startLifecycle, tempDir, uniq, useSandboxEnv, writeRandomFile } from '../fixtures/ingest.js';
import {
  activityFailures,
  eraseTestFile,
  expectConsistent,
  expectNoDid,
  failureOf,
  filesOnRse,
  waitForStep,
} from '../fixtures/lifecycle-checks.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const dataset = { scope: 'user.demo', name: 'lifecycle-faults' };
const quiet = () => undefined;

describe('file lifecycle under failures (real sandbox)', () => {
  const dir = tempDir();
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  describe('with an in-process worker', () => {
    let env: Awaited<ReturnType<typeof startLifecycle>>;
    beforeAll(async () => {
      env = await startLifecycle();
    });
    afterAll(async () => {
      await up(quiet); // whatever a failed test left crashed
      await env?.stop();
    });

    it('completes when the Rucio server crashes as registration starts and is back 30 s later', async () => {
      const name = `${uniq('rucio-crash')}.dat`;
      const file = writeRandomFile(dir, name, 64 * 1024 * 1024);
      onTestFinished(() => eraseTestFile(file));
      const sums = await checksumFile(file, { md5: true });
      const input = fileInput(file, { qos: ['2:QOS=SAFE'], dataset: 'user.demo:lifecycle-faults' });
      const { handle } = await env.start(input);
      await waitForStep(handle, ['upload', 'register']);
      expect(await crashPart('rucio-server')).toBe(true);
      await new Promise((r) => setTimeout(r, 30_000));
      const during = await handle.query<{ step: string }>('progress');
      expect(['upload', 'register']).toContain(during.step);
      // What `status` shows while Rucio is down: the activity being retried, its attempts, why it failed.
      const pending = pendingActivities(await handle.describe());
      expect(pending).toHaveLength(1);
      expect(pending[0]).toMatchObject({ activity: during.step });
      expect(pending[0]!.attempt).toBeGreaterThan(2);
      expect(pending[0]!.lastFailure).toMatch(/ECONNREFUSED|is the Rucio server running/);
      expect(describePending(pending[0]!)).toMatch(/attempt \d+, .*last failure: /);
      await up(quiet);

      const result = (await handle.result()) as IngestResult;
      expect(result.step).toBe('done');
      expect(result.checksums).toEqual(sums);
      const held = await expectConsistent(env.rucio, input.did, dataset, ['LANDING-1', 'QOS=SAFE']);
      expect(held).toEqual(['LANDING-1', 'SAFE-1', 'SAFE-2']);
    }, 240_000);

    it('retries an upload whose storage stops answering, after the heartbeat timeout, not hours later', async () => {
      const name = `${uniq('stall')}.dat`;
      const file = writeRandomFile(dir, name, 1024 * 1024 * 1024);
      onTestFinished(() => eraseTestFile(file));
      const sums = await checksumFile(file, { md5: true });
      const input = fileInput(file, {
        qos: ['1:SAFE-1'],
        dataset: 'user.demo:lifecycle-faults',
        heartbeatTimeout: '3',
      });
      const { handle } = await env.start(input);
      const arrived = await bodyArrived(name, 64 * 1024 * 1024);
      // Freeze LANDING-1 mid-body for longer than the heartbeat timeout: an attempt that merely waited
      // would finish after the thaw as attempt 1.
      // The process group: XRootD and the restart loop around it.
      const pid = runningPid(layout().run, 'xrootd-LANDING-1')!;
      process.kill(-pid, 'SIGSTOP');
      try {
        expect(arrived()).toBeLessThan(1024 * 1024 * 1024);
        await new Promise((r) => setTimeout(r, 10_000));
      } finally {
        process.kill(-pid, 'SIGCONT');
      }
      const result = (await handle.result()) as IngestResult;
      expect(result.step).toBe('done');
      expect(result.attempts.upload).toBeGreaterThan(1);
      expect(result.checksums).toEqual(sums);
      expect(await expectConsistent(env.rucio, input.did, dataset, ['LANDING-1', 'SAFE-1'])).toEqual([
        'LANDING-1',
        'SAFE-1',
      ]);
      const attempts = await activityFailures(handle, 'upload');
      expect(attempts[0]).toMatch(/no byte moved for 3 s/);
    }, 300_000);

    it('a file cancelled mid-upload ends cancelled: the upload stops as cancelled, no bytes stay, nothing is registered', async () => {
      const name = `${uniq('cancel-upload')}.dat`;
      const file = writeRandomFile(dir, name, 1024 * 1024 * 1024);
      onTestFinished(() => eraseTestFile(file));
      // A 2 s heartbeat timeout: the cancel reaches the running upload with its next heartbeat, within ~2 s.
      const input = fileInput(file, { dataset: 'user.demo:lifecycle-faults', heartbeatTimeout: '2' });
      const { handle } = await env.start(input);
      await bodyArrived(name, 16 * 1024 * 1024);
      await handle.cancel();
      // Hold the body back briefly (less than the no-progress guard) so the cancel arrives before its end.
      const pid = runningPid(layout().run, 'xrootd-LANDING-1')!;
      process.kill(-pid, 'SIGSTOP');
      try {
        await new Promise((r) => setTimeout(r, 1500));
      } finally {
        process.kill(-pid, 'SIGCONT');
      }

      const f = await failureOf(handle.result());
      expect(f.type).toBeUndefined();
      expect(f.message).toMatch(/cancel/i);
      expect((await handle.describe()).status.name).toBe('CANCELLED');
      expect((await handle.query<IngestProgress>('progress')).step).toBe('cancelled');
      // The SDK reported the upload as cancelled, not as a failed attempt (which failed the file).
      const events = (await handle.fetchHistory()).events ?? [];
      expect(events.filter((e) => e.activityTaskCanceledEventAttributes)).toHaveLength(1);
      expect(events.filter((e) => e.activityTaskFailedEventAttributes)).toEqual([]);
      expect(filesOnRse('LANDING-1', name)).toEqual([]);
      await expectNoDid(env.rucio, input.did);
      expect(fs.existsSync(file)).toBe(true);
    }, 240_000);

    it('completes when the Temporal server crashes mid-workflow and restarts', async () => {
      const name = `${uniq('temporal-crash')}.dat`;
      const file = writeRandomFile(dir, name, 16 * 1024 * 1024);
      onTestFinished(() => eraseTestFile(file));
      const input = fileInput(file, {
        qos: ['2:QOS=SAFE', '1:QOS=CHEAP-ANALYSIS'],
        dataset: 'user.demo:lifecycle-faults',
        deleteOrigin: true,
      });
      const { handle } = await env.start(input);
      await waitForStep(handle, ['replicate']);
      expect(await crashPart('temporal')).toBe(true);
      await new Promise((r) => setTimeout(r, 3000));
      await up(quiet);

      const result = (await handle.result()) as IngestResult;
      expect(result.step).toBe('done');
      expect(result.originDeleted).toBe(true);
      expect(fs.existsSync(file)).toBe(false);
      const held = await expectConsistent(env.rucio, input.did, dataset, [
        'LANDING-1',
        'QOS=SAFE',
        'QOS=CHEAP-ANALYSIS',
      ]);
      expect(held).toEqual(['CHEAP-1', 'LANDING-1', 'SAFE-1', 'SAFE-2']);
    }, 240_000);

    it('keeps the origin when verify fails: rucio mode, whose mock transfertool moves no bytes', async () => {
      const name = `${uniq('mock-transfer')}.dat`;
      const file = writeRandomFile(dir, name, 1024 * 1024);
      const input = fileInput(file, {
        qos: ['1:SAFE-1'],
        mode: 'rucio',
        deleteOrigin: true,
        dataset: 'user.demo:lifecycle-faults',
      });
      const { handle } = await env.start(input);
      const waiting = await waitForStep(handle, ['replicate'], 60_000, (p) => p.targets[0]?.state !== undefined);
      expect(waiting.targets[0]!.state).toBe('REPLICATING');
      // Rucio's own daemons move the rule: the mock transfer "succeeds", the replica is declared AVAILABLE.
      await rucioDaemonsOnce(layout());

      const f = await failureOf(handle.result());
      expect(f.type).toBe('VerificationFailed');
      expect(f.message).toMatch(/replica on SAFE-1 .* failed verification/);
      const after = await handle.query<IngestProgress>('progress');
      expect(after.step).toBe('failed');
      expect(after.targets[0]!.state).toBe('OK');
      expect(after.originDeleted).toBeUndefined();
      expect((await handle.describe()).typedSearchAttributes.get(saKeys.problem)).toBe('VerificationFailed');
      expect(fs.existsSync(file)).toBe(true);
      expect(filesOnRse('SAFE-1', name)).toEqual([]);
    }, 300_000);

    it('fails clearly on a source that is not a readable file, registering nothing', async () => {
      const sub = path.join(dir, uniq('a-directory'));
      fs.mkdirSync(sub);
      const f = await failureOf((await env.start(fileInput(sub))).handle.result());
      expect(f.type).toBe('SourceNotReadable');
      expect(f.message).toMatch(/not a regular file/);
      await expectNoDid(env.rucio, { scope: 'user.demo', name: path.basename(sub) });
    });
  });

  it('fails clearly with wrong Rucio credentials, leaving nothing behind', async () => {
    const wrong = new RucioClient({
      rucioHost: rucioUrl,
      authHost: rucioUrl,
      authType: 'userpass',
      account: 'ingest',
      username: 'ingest',
      password: 'not-the-password',
      insecure: false,
      source: 'test',
    });
    const env = await startLifecycle({ rucio: wrong });
    try {
      const name = `${uniq('wrong-creds')}.dat`;
      const file = writeRandomFile(dir, name, 1000);
      const f = await failureOf((await env.start(fileInput(file))).handle.result());
      expect(f.type).toBe('CannotAuthenticate');
      expect(f.message).not.toContain('not-the-password');
      expect(fs.existsSync(file)).toBe(true);
      for (const rse of ['LANDING-1', 'SAFE-1', 'SAFE-2', 'CHEAP-1']) expect(filesOnRse(rse, name)).toEqual([]);
      await expectNoDid(env.rucio, { scope: 'user.demo', name });
    } finally {
      await env.stop();
      await wrong.close();
    }
  });

  it('completes with correct checksums when the worker is SIGKILLed during a large upload', async () => {
    useSandboxEnv();
    const taskQueue = uniq('test-worker-kill');
    const name = `${uniq('worker-kill')}.dat`;
    const file = writeRandomFile(dir, name, 512 * 1024 * 1024);
    onTestFinished(() => eraseTestFile(file));
    const sums = await checksumFile(file, { md5: true });

    // The first worker is a separate process, so it can really be killed.
    const child = spawnWorker(taskQueue);
    let second: Awaited<ReturnType<typeof startLifecycle>> | undefined;
    const client = await startLifecycle({ taskQueue: uniq('unused') }); // a client (its own worker idles)
    try {
      await waitForOutput(child, /worker polling/);
      const input = fileInput(file, {
        qos: ['1:SAFE-1'],
        dataset: 'user.demo:lifecycle-faults',
        heartbeatTimeout: '5',
      });
      const { handle } = await startIngest(client.client, input, taskQueue);
      await waitForStep(handle, ['upload'], 120_000);
      // Once some bytes went out (the upload inspects the file first), kill -9: no graceful shutdown, no cleanup.
      await bodyArrived(name, 16 * 1024 * 1024);
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      const leftovers = filesOnRse('LANDING-1', name);

      second = await startLifecycle({ taskQueue });
      const result = (await handle.result()) as IngestResult;
      expect(result.step).toBe('done');
      expect(result.checksums).toEqual(sums);
      expect(result.attempts.upload).toBeGreaterThan(1);
      // Verify covers the QoS targets; the landing copy was verified before its rename (and below).
      expect(result.verified?.map((v) => v.rse)).toEqual(['SAFE-1']);
      // The kill left a half-written temporary; the retry removed it: only the verified replicas remain.
      expect(leftovers.some((f) => f.endsWith('.rucio-ingest-a1.part'))).toBe(true);
      expect(await expectConsistent(client.rucio, input.did, dataset, ['LANDING-1', 'SAFE-1'])).toEqual([
        'LANDING-1',
        'SAFE-1',
      ]);
      const landing = filesOnRse('LANDING-1', name)[0]!;
      expect(await checksumFile(path.join(layout().rseData('LANDING-1'), landing), { md5: true })).toEqual(sums);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await second?.stop();
      await client.stop();
    }
  }, 300_000);
});

/**
 * Wait until `bytes` of the first upload attempt's body are on LANDING-1's disk, in its temporary (which grows
 * while the body arrives). Returns how to read its size.
 */
async function bodyArrived(name: string, bytes: number): Promise<() => number> {
  const temp = path.join(
    layout().rseData('LANDING-1'),
    'rucio',
    path.dirname(hashLfnPath('user.demo', name)),
    `.${name}.rucio-ingest-a1.part`,
  );
  const arrived = () => (fs.existsSync(temp) ? fs.statSync(temp).size : 0);
  const started = Date.now();
  while (arrived() < bytes) {
    if (Date.now() - started > 120_000) throw new Error(`the upload did not start: ${temp}`);
    await new Promise((r) => setTimeout(r, 2));
  }
  return arrived;
}

function spawnWorker(taskQueue: string): ChildProcess {
  return spawn(
    process.execPath,
    ['--import', 'tsx', path.join(repo, 'src/cli/main.ts'), 'worker', '--task-queue', taskQueue],
    { cwd: repo, env: { ...process.env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
}

function waitForOutput(child: ChildProcess, re: RegExp, timeoutMs = 60_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(
      () => reject(new Error(`worker did not print ${re} in ${timeoutMs} ms:\n${seen}`)),
      timeoutMs,
    );
    const onData = (b: Buffer) => {
      seen += b.toString();
      if (re.test(seen)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`worker exited (${code}) before printing ${re}:\n${seen}`));
    });
  });
}
