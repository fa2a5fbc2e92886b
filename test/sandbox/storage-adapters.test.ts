import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { adler32 } from 'hash-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { layout, rses, secureStorage } from '../../src/sandbox/layout.js';
import { runningPid } from '../../src/sandbox/processes.js';
import { copy } from '../../src/storage/copy.js';
import { adapterFor, checksumFile, StorageError, WebDavAdapter } from '../../src/storage/index.js';
import { StorageAuth } from '../../src/storage/auth.js';
import { x509Files } from '../../src/sandbox/x509.js';
import type { Checksums } from '../../src/storage/types.js';

// The sandbox CA, as `sandbox env` exports it; adapters read it when first created.
process.env.X509_CERT_DIR = path.join(layout().ca, 'certs');

const rse = (name: string) => rses.find((r) => r.name === name)!;
const run = randomUUID().slice(0, 8);
const davs = (rseName: string, rel: string) => `davs://127.0.0.1:${rse(rseName).httpsPort}/rucio/tests/${run}/${rel}`;
const root = (rseName: string, rel: string) => `root://127.0.0.1:${rse(rseName).rootPort}//rucio/tests/${run}/${rel}`;
/** Where an RSE keeps a PFN's bytes on disk (to corrupt or inspect them behind the server's back). */
const onDisk = (rseName: string, rel: string) => path.join(layout().rseData(rseName), 'rucio', 'tests', run, rel);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rucio-ingest-storage-'));
function localFile(name: string, data: Buffer): string {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, data);
  return p;
}
async function sums(data: Buffer): Promise<Checksums> {
  return { bytes: data.length, adler32: await adler32(data) };
}
async function expectStorageError(p: Promise<unknown>, code: string, kind: 'retryable' | 'permanent') {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StorageError);
  expect((err as StorageError).code).toBe(code);
  expect((err as StorageError).kind).toBe(kind);
}
async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
/** No `.part` temporaries left in an RSE directory. */
function leftovers(dir: string): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => n.includes('.rucio-ingest-')) : [];
}

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
  for (const r of rses)
    fs.rmSync(path.join(layout().rseData(r.name), 'rucio', 'tests', run), { recursive: true, force: true });
});

describe.each([
  ['davs', (rel: string) => davs('LANDING-1', rel), (rel: string) => onDisk('LANDING-1', rel)],
  ['root', (rel: string) => root('SAFE-2', rel), (rel: string) => onDisk('SAFE-2', rel)],
  ['file', (rel: string) => `file://${path.join(tmp, 'store', rel)}`, (rel: string) => path.join(tmp, 'store', rel)],
] as const)('%s adapter', (scheme, url, disk) => {
  const cases: Array<[string, Buffer]> = [
    ['empty.bin', Buffer.alloc(0)],
    ['one-byte.bin', Buffer.from('a')],
    ['random-3MiB.bin', randomBytes(3 * 1024 * 1024 + 7)],
  ];
  it.each(cases)('uploads %s, verifies it by digest, deletes it twice', async (name, data) => {
    const target = url(`sizes/${name}`);
    const a = adapterFor(target);
    const res = await a.upload(localFile(`${scheme}-${name}`, data), target, { md5: true });
    expect(res.alreadyThere).toBe(false);
    expect(res.checksums).toMatchObject(await sums(data));
    expect(await a.stat(target)).toEqual({ bytes: data.length });
    const v = await a.verify(target, res.checksums);
    expect(v).toMatchObject({ ok: true, method: scheme === 'file' ? 'readback' : 'digest' });
    expect((await readAll(await a.read(target))).equals(data)).toBe(true);
    expect(leftovers(path.dirname(disk(`sizes/${name}`)))).toEqual([]);
    expect(await a.delete(target)).toBe(true);
    expect(await a.delete(target)).toBe(false);
    expect(await a.stat(target)).toBeUndefined();
  });

  it('keeps the leading zeros of adler32 (md5 too)', async () => {
    // Find content whose adler32 starts with "00" (1 in 256 random buffers).
    let data = randomBytes(4096);
    while (!(await adler32(data)).startsWith('00')) data = randomBytes(4096);
    const target = url('zeros.bin');
    const a = adapterFor(target);
    const res = await a.upload(localFile(`${scheme}-zeros.bin`, data), target, { md5: true });
    expect(res.checksums.adler32).toMatch(/^00[0-9a-f]{6}$/);
    const found = await a.digest(target, { md5: true });
    if (scheme !== 'file') expect(found).toEqual(res.checksums);
    expect((await a.verify(target, res.checksums)).ok).toBe(true);
  });

  it('round-trips awkward names into a directory that does not exist', async () => {
    const rel = `new dir/sub+dir/sp ace+=#%20é ü 文件 .txt`;
    const target = url(rel);
    const a = adapterFor(target);
    const data = Buffer.from('awkward');
    await a.upload(localFile(`${scheme}-awkward`, data), target);
    expect(fs.readFileSync(disk(rel)).equals(data)).toBe(true);
    expect((await a.verify(target, await sums(data))).ok).toBe(true);
    expect(await a.delete(target)).toBe(true);
  });

  it('answers alreadyThere for identical content and refuses different content', async () => {
    const target = url('exists.bin');
    const a = adapterFor(target);
    const data = randomBytes(1000);
    const file = localFile(`${scheme}-exists`, data);
    expect((await a.upload(file, target)).alreadyThere).toBe(false);
    expect(await a.upload(file, target)).toEqual({ alreadyThere: true, checksums: await sums(data) });
    await expectStorageError(
      a.upload(localFile(`${scheme}-other`, randomBytes(1000)), target),
      'EXISTS_DIFFERENT',
      'permanent',
    );
    expect(fs.readFileSync(disk('exists.bin')).equals(data)).toBe(true);
  });

  // A small source's first attempt does not look before sending: the look before the rename must still
  // find what is there, never overwrite it, and leave no temporary behind.
  it('on a first attempt, finds an existing file before the rename and never overwrites it', async () => {
    const target = url('exists-first-attempt.bin');
    const a = adapterFor(target);
    const data = randomBytes(1000);
    const file = localFile(`${scheme}-exists-first`, data);
    expect((await a.upload(file, target, { attempt: 1 })).alreadyThere).toBe(false);
    expect(await a.upload(file, target, { attempt: 1 })).toEqual({ alreadyThere: true, checksums: await sums(data) });
    await expectStorageError(
      a.upload(localFile(`${scheme}-other-first`, randomBytes(1000)), target, { attempt: 1 }),
      'EXISTS_DIFFERENT',
      'permanent',
    );
    expect(fs.readFileSync(disk('exists-first-attempt.bin')).equals(data)).toBe(true);
    expect(leftovers(path.dirname(disk('exists-first-attempt.bin')))).toEqual([]);
  });

  it('detects content changed behind the storage', async () => {
    const target = url('corrupt.bin');
    const a = adapterFor(target);
    const data = randomBytes(64 * 1024);
    const res = await a.upload(localFile(`${scheme}-corrupt`, data), target);
    const bad = Buffer.from(data);
    bad[1000] = bad[1000]! ^ 0xff;
    fs.writeFileSync(disk('corrupt.bin'), bad);
    // Silent corruption (same size, mtime within the same second) hides behind XRootD's cached digest;
    // a forced read-back sees it.
    const readBack = await a.verify(target, res.checksums, { forceReadback: true });
    expect(readBack).toMatchObject({ ok: false, method: 'readback' });
    expect(readBack.reason).toMatch(/adler32/);
    // A later rewrite (newer mtime) makes the server recompute: the digest sees it too, and the read-back
    // that confirms a disagreeing digest before a file fails agrees.
    const later = new Date(Date.now() + 5000);
    fs.utimesSync(disk('corrupt.bin'), later, later);
    const v = await a.verify(target, res.checksums);
    expect(v).toMatchObject({ ok: false, method: 'readback' });
    expect(v.reason).toMatch(scheme === 'file' ? /adler32/ : /digest said adler32 is .*; read back: adler32 is/);
  });

  it('refuses a source that changed while being sent, leaving nothing behind', async () => {
    const target = url('changing/changed.bin');
    const a = adapterFor(target);
    const data = randomBytes(100_000);
    // What the inspection saw differs from what is read now, as when a writer is still appending.
    const inspected = await sums(data.subarray(0, 50_000));
    await expectStorageError(
      a.upload(localFile(`${scheme}-changed`, data), target, { expected: inspected, attempt: 1 }),
      'SOURCE_CHANGED',
      'permanent',
    );
    expect(await a.stat(target)).toBeUndefined();
    expect(fs.existsSync(path.dirname(disk('changing/changed.bin')))).toBe(true);
    expect(leftovers(path.dirname(disk('changing/changed.bin')))).toEqual([]);
  });

  it('refuses a missing source file and reads of missing objects', async () => {
    const target = url('never.bin');
    const a = adapterFor(target);
    await expectStorageError(a.upload(path.join(tmp, 'no-such-file'), target), 'NOT_FOUND', 'permanent');
    await expectStorageError(a.read(target), 'NOT_FOUND', 'permanent');
    expect(await a.verify(target, { bytes: 1, adler32: '00620062' })).toMatchObject({ ok: false });
  });
});

describe.each([
  ['davs', (rel: string) => davs('LANDING-1', rel)],
  ['root', (rel: string) => root('SAFE-2', rel)],
] as const)('%s: cancelled metadata requests', (_scheme, url) => {
  // Temporal cancels an attempt (timeout, worker shutdown) through the signal: that is no verdict on
  // the data, so it must stay retryable whichever request it interrupts.
  it('classifies an abort of stat, verify, delete and read as retryable', async () => {
    const target = url('cancelled/file.bin');
    const a = adapterFor(target);
    const data = randomBytes(1000);
    await a.upload(localFile(`cancel-${_scheme}`, data), target);
    const aborted = AbortSignal.abort();
    await expectStorageError(a.stat(target, aborted), 'ABORTED', 'retryable');
    await expectStorageError(a.verify(target, await sums(data), { signal: aborted }), 'ABORTED', 'retryable');
    await expectStorageError(a.delete(target, aborted), 'ABORTED', 'retryable');
    await expectStorageError(a.read(target, aborted), 'ABORTED', 'retryable');
    expect(await a.delete(target)).toBe(true);
  });
});

describe('storage that refuses anonymous clients (XRootD with grid-mapfile and authdb)', () => {
  const x = x509Files(layout());
  const url = (rel: string) => `davs://127.0.0.1:${secureStorage.httpsPort}/rucio/tests/${run}/${rel}`;
  const data = randomBytes(100_000);
  const adapters = {
    anonymous: new WebDavAdapter({ auth: StorageAuth.none() }),
    proxy: new WebDavAdapter({ auth: StorageAuth.fromEnv({ X509_USER_PROXY: x.proxy }) }),
    certAndKey: new WebDavAdapter({
      auth: StorageAuth.fromEnv({ X509_USER_CERT: x.userCert, X509_USER_KEY: x.userKey }),
    }),
    stranger: new WebDavAdapter({
      auth: StorageAuth.fromEnv({ X509_USER_CERT: x.strangerCert, X509_USER_KEY: x.strangerKey }),
    }),
  };
  afterAll(() =>
    fs.rmSync(path.join(layout().rseData(secureStorage.name), 'rucio', 'tests', run), { recursive: true, force: true }),
  );

  it.each(['proxy', 'certAndKey'] as const)(
    '%s: upload verified by read-back (no digest offered), read, delete',
    async (who) => {
      const a = adapters[who];
      const target = url(`${who}/file.bin`);
      expect(a.auth.describe()).toMatch(/^x509 /);
      // This server answers a Want-Digest HEAD with 405: the upload's own check reads the temporary back.
      const res = await a.upload(localFile(`secure-${who}`, data), target, { md5: true });
      expect(res.checksums).toMatchObject(await sums(data));
      expect(await a.digest(target)).toEqual({ bytes: data.length });
      expect(await a.verify(target, res.checksums)).toMatchObject({ ok: true, method: 'readback' });
      expect(await a.verify(target, res.checksums, { readbackFallback: false })).toMatchObject({
        ok: true,
        method: 'stat',
        reason: expect.stringMatching(/size only/),
      });
      // Same size, other bytes: only reading back can tell.
      const disk = path.join(layout().rseData(secureStorage.name), 'rucio', 'tests', run, who, 'file.bin');
      const bad = Buffer.from(data);
      bad[10] = bad[10]! ^ 0xff;
      fs.writeFileSync(disk, bad);
      expect(await a.verify(target, res.checksums)).toMatchObject({ ok: false, method: 'readback' });
      expect(await a.delete(target)).toBe(true);
    },
  );

  it.each(['anonymous', 'stranger'] as const)('%s: refused, permanently, nothing written', async (who) => {
    const a = adapters[who];
    const target = url(`${who}/file.bin`);
    await expectStorageError(a.upload(localFile(`secure-${who}`, data), target), 'FORBIDDEN', 'permanent');
    await expectStorageError(a.stat(target), 'FORBIDDEN', 'permanent');
    expect(fs.existsSync(path.join(layout().rseData(secureStorage.name), 'rucio', 'tests', run, who))).toBe(false);
  });
});

describe('big files', () => {
  let big: string;
  let bigSums: Checksums;
  beforeAll(async () => {
    // 1 GiB of random-looking bytes, fast: one random 64 MiB block, varied per copy (no sparse holes).
    big = path.join(tmp, 'big.bin');
    const block = randomBytes(64 * 1024 * 1024);
    const fd = fs.openSync(big, 'w');
    for (let i = 0; i < 16; i++) {
      block.writeUInt32LE(i, 0);
      fs.writeSync(fd, block);
    }
    fs.closeSync(fd);
    bigSums = await checksumFile(big);
  });
  afterAll(() => fs.rmSync(big, { force: true }));

  it('uploads 1 GiB over davs with progress, verified by digest', async () => {
    const target = davs('LANDING-1', 'big/big.bin');
    const a = adapterFor(target);
    const seen: number[] = [];
    const res = await a.upload(big, target, { onProgress: (b) => seen.push(b), expected: bigSums });
    expect(res.checksums).toEqual(bigSums);
    expect(seen.at(-1)).toBe(bigSums.bytes);
    expect((await a.verify(target, bigSums)).ok).toBe(true);
    expect(await a.delete(target)).toBe(true);
  });

  it('a third-party copy is not mistaken for a stall between performance markers (seconds apart)', async () => {
    const src = davs('LANDING-1', 'big-tpc/big.bin');
    await adapterFor(src).upload(big, src, { expected: bigSums });
    const dst = davs('SAFE-1', 'big-tpc/big.bin');
    // A no-progress timeout far below the servers' marker interval, as a short heartbeat timeout gives.
    const res = await copy(src, dst, { expected: bigSums, noProgressTimeoutMs: 1000 });
    expect(res).toMatchObject({ mode: 'tpc-pull', alreadyThere: false, checksums: bigSums });
    for (const u of [src, dst]) expect(await adapterFor(u).delete(u)).toBe(true);
  });

  it.each(['davs', 'root'] as const)(
    '%s: an upload aborted half way leaves neither the file nor a temporary',
    async (scheme) => {
      const rel = `aborted-${scheme}/big.bin`;
      const target = scheme === 'davs' ? davs('LANDING-1', rel) : root('SAFE-2', rel);
      const dir = path.dirname(onDisk(scheme === 'davs' ? 'LANDING-1' : 'SAFE-2', rel));
      const ac = new AbortController();
      const p = adapterFor(target).upload(big, target, {
        signal: ac.signal,
        onProgress: (b) => {
          if (b >= bigSums.bytes / 2) ac.abort();
        },
      });
      await expectStorageError(p, 'ABORTED', 'retryable');
      expect(await adapterFor(target).stat(target)).toBeUndefined();
      expect(leftovers(dir)).toEqual([]);
    },
  );
});

describe('a storage that stops answering mid-transfer (XRootD SIGSTOPped)', () => {
  // The seeds' GridFTP transfers hung 360 s with no progress before anyone noticed: here the no-progress
  // guard must give up within its timeout, retryably, and leave no temporary once the server is back.
  it('fails with a retryable NO_PROGRESS within the timeout, and cleans up after the server resumes', async () => {
    const data = randomBytes(256 * 1024 * 1024);
    const src = localFile('stall.bin', data);
    const rel = 'stall/stalled.bin';
    const target = davs('CHEAP-1', rel);
    // The process group: XRootD and the restart loop around it.
    const pid = runningPid(layout().run, 'xrootd-CHEAP-1')!;
    expect(pid).toBeGreaterThan(0);
    let stoppedAt = 0;
    let resume: NodeJS.Timeout | undefined;
    try {
      const p = adapterFor(target).upload(src, target, {
        attempt: 1,
        noProgressTimeoutMs: 2000,
        onProgress: (b) => {
          // The first report comes with the first bytes: stop the server while the body is being sent.
          if (stoppedAt === 0 && b > 0 && b < data.length) {
            process.kill(-pid, 'SIGSTOP');
            stoppedAt = Date.now();
            resume = setTimeout(() => process.kill(-pid, 'SIGCONT'), 6000);
          }
        },
      });
      await expectStorageError(p, 'NO_PROGRESS', 'retryable');
      expect(stoppedAt).toBeGreaterThan(0);
      // Detected about 2 s after the last byte (cleanup waits for the server to come back).
      expect(Date.now() - stoppedAt).toBeLessThan(30_000);
    } finally {
      clearTimeout(resume);
      process.kill(-pid, 'SIGCONT');
    }
    expect(await adapterFor(target).stat(target)).toBeUndefined();
    expect(leftovers(path.dirname(onDisk('CHEAP-1', rel)))).toEqual([]);
  }, 60_000);
});

describe('retried transfers', () => {
  // A retry first deletes the temporaries of earlier attempts; the absent ones answer 404, after which
  // XRootD closes its end of the kept-alive connection. The transfer must not go out on that socket.
  const data = randomBytes(20 * 1024 * 1024 + 1);
  it.each(['davs', 'root'] as const)('%s: attempt 5 of an upload is sent and verified', async (scheme) => {
    const rel = `retried-${scheme}/attempt-5.bin`;
    const target = scheme === 'davs' ? davs('LANDING-1', rel) : root('SAFE-2', rel);
    const expected = await sums(data);
    for (const round of [1, 2]) {
      const t = target.replace('.bin', `-${round}.bin`);
      const res = await adapterFor(t).upload(localFile(`retried-${scheme}`, data), t, { attempt: 5, expected });
      expect(res).toMatchObject({ alreadyThere: false, checksums: expected });
    }
    expect(leftovers(path.dirname(onDisk(scheme === 'davs' ? 'LANDING-1' : 'SAFE-2', rel)))).toEqual([]);
  });

  it('attempt 5 of a third-party copy is sent', async () => {
    const src = davs('LANDING-1', 'retried-copy/src.bin');
    const expected = await sums(data);
    await adapterFor(src).upload(localFile('retried-copy', data), src);
    const dst = davs('SAFE-1', 'retried-copy/dst.bin');
    expect(await copy(src, dst, { expected, attempt: 5 })).toMatchObject({ mode: 'tpc-pull', alreadyThere: false });
  });
});

describe('copy', () => {
  const data = randomBytes(5 * 1024 * 1024 + 3);
  let expected: Checksums;
  const src = davs('LANDING-1', 'copy/source file #1.bin');
  beforeAll(async () => {
    expected = await sums(data);
    await adapterFor(src).upload(localFile('copy-src', data), src);
  });

  it('copies between two RSEs by HTTP-TPC pull into a new directory, then finds it there', async () => {
    const dst = davs('SAFE-1', 'copy/deep/er/copied #1.bin');
    const res = await copy(src, dst, { expected });
    expect(res).toMatchObject({ mode: 'tpc-pull', alreadyThere: false, checksums: expected });
    expect((await adapterFor(dst).verify(dst, expected)).ok).toBe(true);
    expect(await copy(src, dst, { expected })).toMatchObject({ alreadyThere: true });
    expect(leftovers(path.dirname(onDisk('SAFE-1', 'copy/deep/er/x')))).toEqual([]);
  });

  it('streams when TPC is off or the schemes differ (davs → root → file)', async () => {
    const viaRoot = root('SAFE-2', 'copy/streamed.bin');
    expect(await copy(src, viaRoot, { tpc: false })).toMatchObject({ mode: 'streamed', checksums: expected });
    const local = `file://${path.join(tmp, 'copy', 'back.bin')}`;
    expect(await copy(viaRoot, local, { md5: true })).toMatchObject({ mode: 'streamed' });
    expect(fs.readFileSync(path.join(tmp, 'copy', 'back.bin')).equals(data)).toBe(true);
  });

  it('refuses a missing source permanently', async () => {
    await expectStorageError(copy(davs('LANDING-1', 'copy/missing'), davs('SAFE-1', 'x')), 'NOT_FOUND', 'permanent');
  });
});
