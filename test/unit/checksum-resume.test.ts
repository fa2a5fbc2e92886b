import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { adler32 } from 'hash-wasm';
import { afterAll, describe, expect, it } from 'vitest';
import { resumableChecksumMinBytes, sourceIdentity, usableInspection } from '../../src/activities/checksum-resume.js';
import { createActivities } from '../../src/activities/lifecycle.js';
import { RucioClient } from '../../src/rucio/client.js';
import { ChecksumAccumulator, checksumFile, type ChecksumCheckpoint } from '../../src/storage/checksum.js';
import { writeRandomFile } from '../fixtures/ingest.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rucio-ingest-resume-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('resumable checksums', () => {
  const data = randomBytes(3 * 1024 * 1024 + 17);
  const file = path.join(dir, 'small.bin');
  fs.writeFileSync(file, data);

  it.each([true, false])('carry on from a checkpoint to the same adler32 and md5 (md5: %s)', async (md5) => {
    const acc = await ChecksumAccumulator.create(md5, { resumable: true });
    acc.update(data.subarray(0, 1_000_001));
    const cp = acc.checkpoint()!;
    expect(cp.bytes).toBe(1_000_001);
    const resumed = await checksumFile(file, { md5, resumeFrom: cp });
    expect(resumed.bytes).toBe(data.length);
    expect(resumed.adler32).toBe(await adler32(data));
    expect(resumed.md5).toBe(md5 ? createHash('md5').update(data).digest('hex') : undefined);
  });

  it("Node's md5 gives no checkpoint: only the resumable mode does", async () => {
    expect((await ChecksumAccumulator.create(true)).checkpoint()).toBeUndefined();
    expect((await ChecksumAccumulator.create(false)).checkpoint()).toBeDefined();
  });
});

describe('inspectSource resumes from the heartbeat of a previous attempt', () => {
  // No Rucio call happens when inspecting a local file; the client is only needed to build the activities.
  const rucio = new RucioClient({
    rucioHost: 'https://127.0.0.1:9',
    authHost: 'https://127.0.0.1:9',
    authType: 'userpass',
    account: 'nobody',
    insecure: false,
    source: 'test',
  });
  const activities = createActivities({ rucio, account: 'nobody' });
  afterAll(() => rucio.close());
  const big = writeRandomFile(dir, 'big.bin', resumableChecksumMinBytes + 512 * 1024 * 1024);
  const input = { source: { kind: 'local' as const, path: big }, md5: true, allowEmpty: false };

  it('an interrupted attempt leaves a checkpoint; the next carries on from it to the right checksums', async () => {
    const full = await checksumFile(big, { md5: true });
    // Attempt 1: cancelled at its first heartbeat that carries a checkpoint.
    const first = new MockActivityEnvironment({ heartbeatTimeoutMs: 4000, attempt: 1 });
    let details: { checkpoint?: { state: ChecksumCheckpoint; path: string } } | undefined;
    first.on('heartbeat', (d: typeof details) => {
      if (!details && d?.checkpoint?.state) {
        details = d;
        first.cancel();
      }
    });
    // Reported as cancelled, as the SDK reports only a CancelledFailure: not as the read's own "aborted".
    await expect(first.run(activities.inspectSource, input)).rejects.toBeInstanceOf(CancelledFailure);
    expect(details?.checkpoint?.path).toBe(big);
    const stoppedAt = details!.checkpoint!.state.bytes;
    expect(stoppedAt).toBeGreaterThan(0);
    expect(stoppedAt).toBeLessThan(full.bytes);

    // Attempt 2 gets those details back from Temporal.
    const second = new MockActivityEnvironment({ heartbeatTimeoutMs: 4000, attempt: 2, heartbeatDetails: details });
    expect(await second.run(activities.inspectSource, input)).toEqual(full);

    // The checkpoint is really used: a forged state (same file, same offset) changes the result...
    const forged = { checkpoint: { ...details!.checkpoint!, state: { ...details!.checkpoint!.state } } };
    const zeros = await ChecksumAccumulator.create(true, { resumable: true });
    zeros.update(Buffer.alloc(stoppedAt));
    forged.checkpoint.state = zeros.checkpoint()!;
    const third = new MockActivityEnvironment({ heartbeatTimeoutMs: 4000, attempt: 3, heartbeatDetails: forged });
    expect(((await third.run(activities.inspectSource, input)) as { adler32: string }).adler32).not.toBe(full.adler32);
    // ...and one for a file changed since (other mtime) is ignored.
    const stale = { checkpoint: { ...forged.checkpoint, mtimeMs: 1 } };
    const fourth = new MockActivityEnvironment({ heartbeatTimeoutMs: 4000, attempt: 4, heartbeatDetails: stale });
    expect(await fourth.run(activities.inspectSource, input)).toEqual(full);
  }, 120_000);
});

describe('an upload that inspects reuses the inspection a previous attempt finished', () => {
  const file = path.join(dir, 'inspected.bin');
  fs.writeFileSync(file, randomBytes(1000));
  const result = { bytes: 1000, adler32: '0a1b2c3d', md5: 'x', metadata: { run: 7 } };

  it('for the same file unchanged since', async () => {
    const identity = await sourceIdentity({ kind: 'local', path: file });
    expect(identity).toMatchObject({ path: file, size: 1000 });
    expect(usableInspection({ bytes: 5, inspected: { identity, result } }, identity)).toEqual(result);
  });

  it('not once the file changed, nor without a finished inspection, nor for a source on an RSE', async () => {
    const before = (await sourceIdentity({ kind: 'local', path: file }))!;
    fs.utimesSync(file, new Date(), new Date(Date.now() + 5000));
    const now = await sourceIdentity({ kind: 'local', path: file });
    expect(usableInspection({ inspected: { identity: before, result } }, now)).toBeUndefined();
    expect(usableInspection({ bytes: 500 }, now)).toBeUndefined();
    expect(usableInspection(undefined, now)).toBeUndefined();
    // A result that does not fit the file's size is not trusted either.
    expect(usableInspection({ inspected: { identity: now, result: { ...result, bytes: 999 } } }, now)).toBeUndefined();
    expect(await sourceIdentity({ kind: 'rse', rse: 'X', pfn: 'davs://h/p' })).toBeUndefined();
    expect(await sourceIdentity({ kind: 'local', path: path.join(dir, 'missing') })).toBeUndefined();
  });
});
