import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../src/cli/schedule-duration.js';
import { planBatch } from '../../src/planning/plan-batch.js';
import { commitLedger, compareWalkOrder, ScanLedger } from '../../src/planning/scan-ledger.js';
import { walkDirectory } from '../../src/policy/walk.js';
import type { CompletenessRules } from '../../src/policy/completeness.js';
import { batchIdOfScan } from '../../src/shared/scan-input.js';

let base: string;
let root: string;
let ledgerPath: string;
let nextPath: string;
let scans = 0;
beforeEach(() => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'scan-ledger-'));
  root = path.join(base, 'watched');
  fs.mkdirSync(root);
  ledgerPath = path.join(base, 'ledger.jsonl');
  nextPath = path.join(base, 'ledger.next.jsonl');
});
afterEach(() => fs.rmSync(base, { recursive: true, force: true }));

function put(rel: string, content = rel): void {
  fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
  fs.writeFileSync(path.join(root, rel), content);
}

/** One scan as a schedule runs it: plan beside the ledger; commit (the batch started) unless told not to. */
async function scan(opts: { commit?: boolean; completeness?: CompletenessRules } = {}) {
  scans += 1;
  const ledger = await ScanLedger.open(ledgerPath, nextPath);
  const manifestPath = path.join(base, `manifest-${scans}.jsonl`);
  const manifest = await planBatch({
    sources: [root],
    namespace: { scope: 'user.demo', layout: 'tree', nameRule: 'keep', dataset: 'user.demo:top' },
    metadata: {},
    excludeSuffixes: [],
    manifestPath,
    ledger,
    emptyOk: true,
    completeness: opts.completeness,
  });
  const counts = await ledger.finish();
  if (opts.commit !== false) commitLedger(ledgerPath, nextPath);
  const taken =
    manifest.files === 0
      ? []
      : fs
          .readFileSync(manifestPath, 'utf8')
          .trim()
          .split('\n')
          .map((l) => (JSON.parse(l) as { did: { name: string } }).did.name);
  return { files: manifest.files, taken, counts };
}

describe('scan ledger: a scan takes only what earlier scans did not', () => {
  it('orders relative paths as the walk lists them', async () => {
    for (const rel of ['a.txt', 'a/b', 'a/c/d', 'a-b', 'B', 'b', 'é', 'a/b.x', 'ab']) put(rel);
    const walked: string[] = [];
    for await (const f of walkDirectory(root)) walked.push(f.relativePath);
    expect([...walked].sort(compareWalkOrder)).toEqual(walked);
    expect(walked.length).toBe(9);
  });

  it('takes new files once, passes over the ones taken, drops the gone and takes the changed again', async () => {
    for (let i = 0; i < 5; i++) put(`run1/f${i}.dat`);
    const first = await scan();
    expect(first.files).toBe(5);
    expect(first.counts).toEqual({ seen: 0, taken: 5, dropped: 0 });

    const again = await scan();
    expect(again).toMatchObject({ files: 0, counts: { seen: 5, taken: 0, dropped: 0 } });

    put('run0/new.dat');
    put('run2/new.dat');
    fs.rmSync(path.join(root, 'run1/f1.dat'));
    // Changed since taken (another size): taken again, and its DID will tell if it clashes in Rucio.
    put('run1/f3.dat', 'rewritten, longer than before');
    const third = await scan();
    expect(third.taken.sort()).toEqual(['run0/new.dat', 'run1/f3.dat', 'run2/new.dat']);
    expect(third.counts).toEqual({ seen: 3, taken: 3, dropped: 2 });

    const lines = fs.readFileSync(ledgerPath, 'utf8').trim().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as { p: string }).p)).toEqual([
      'run0/new.dat',
      'run1/f0.dat',
      'run1/f2.dat',
      'run1/f3.dat',
      'run1/f4.dat',
      'run2/new.dat',
    ]);
  });

  it('reads the whole ledger however late the walk starts asking (lines read before are kept)', async () => {
    for (let i = 0; i < 300; i++) put(`d${String(i).padStart(3, '0')}.dat`);
    expect((await scan()).files).toBe(300);
    const ledger = await ScanLedger.open(ledgerPath, nextPath);
    // A slow first stat on NFS: readline has read everything meanwhile. (Not the race fixed in open(): that
    // needs lines emitted before the iterator exists, which this test cannot force.)
    await new Promise((r) => setTimeout(r, 100));
    for (let i = 0; i < 300; i++) {
      const st = fs.statSync(path.join(root, `d${String(i).padStart(3, '0')}.dat`));
      expect(await ledger.seen(`d${String(i).padStart(3, '0')}.dat`, st.size, st.mtimeMs)).toBe(true);
    }
    expect(await ledger.finish()).toEqual({ seen: 300, taken: 0, dropped: 0 });
  });

  it('a scan whose batch never started takes its files again next time', async () => {
    put('a.dat');
    put('b.dat');
    expect((await scan({ commit: false })).files).toBe(2);
    expect(fs.existsSync(ledgerPath)).toBe(false);
    expect((await scan()).files).toBe(2);
    expect((await scan()).files).toBe(0);
    // Committing twice (a retried activity) changes nothing.
    commitLedger(ledgerPath, nextPath);
    expect((await scan()).counts.seen).toBe(2);
  });

  it('a file that is not complete yet is not in the ledger: the scan after it is complete takes it', async () => {
    put('x.dat');
    put('y.dat');
    fs.writeFileSync(path.join(root, 'x.dat.trigger'), '');
    const rules = { triggerSuffix: '.trigger' };
    expect((await scan({ completeness: rules })).taken).toEqual(['x.dat']);
    fs.writeFileSync(path.join(root, 'y.dat.trigger'), '');
    expect((await scan({ completeness: rules })).taken).toEqual(['y.dat']);
  });

  it('refuses a walk out of order, and an aborted scan leaves the ledger as it was', async () => {
    put('a.dat');
    await scan();
    const before = fs.readFileSync(ledgerPath, 'utf8');
    const ledger = await ScanLedger.open(ledgerPath, nextPath);
    await ledger.seen('b', 1, 1);
    await expect(ledger.seen('a', 1, 1)).rejects.toThrow(/out of walk order/);
    ledger.abort();
    expect(fs.existsSync(nextPath)).toBe(false);
    expect(fs.readFileSync(ledgerPath, 'utf8')).toBe(before);
  });
});

describe('schedule names and durations', () => {
  it("derives a scan's batch ID from the action time Temporal appends to its workflow ID", () => {
    expect(batchIdOfScan('fair', 'scan/fair-2026-12-02T10:20:00Z', new Date(0))).toBe('fair-20261202-102000');
    expect(batchIdOfScan('fair', 'scan/fair', new Date('2026-12-02T10:20:30.123Z'))).toBe('fair-20261202-102030');
  });

  it('reads and writes durations', () => {
    expect(parseDuration('10m', '--every')).toBe(600_000);
    expect(parseDuration('1h30m', '--every')).toBe(5_400_000);
    expect(parseDuration('1d', '--every')).toBe(86_400_000);
    expect(() => parseDuration('10 minutes', '--every')).toThrow(/--every 10 minutes: expected a duration/);
    expect(() => parseDuration('', '--every')).toThrow(/expected a duration/);
    expect(formatDuration(5_400_000)).toBe('1h30m');
    expect(formatDuration(90_000)).toBe('1m30s');
  });
});
