import fs from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir, uniq } from '../fixtures/ingest.js';
import { cli, pythonRucio, spawnWorker, until, writeSmallFiles } from '../fixtures/batch.js';
import type { ScanResult } from '../../src/shared/scan-input.js';

interface Described {
  paused: boolean;
  note?: string;
  actionsTaken: number;
  running: string[];
  nextRuns: string[];
  recent: Array<{
    scheduledAt: string;
    workflowId: string;
    batchId: string;
    status: string;
    result?: ScanResult;
    failure?: string;
  }>;
}

async function describeSchedule(name: string): Promise<Described> {
  const r = await cli(['schedule', 'describe', name, '--json']);
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out) as Described;
}

/** Wait until the schedule has taken `n` actions and none of them runs any more. */
async function settled(name: string, n: number, timeoutMs = 180_000): Promise<Described> {
  let d: Described | undefined;
  await until(
    `${n} finished scans of ${name}`,
    async () => {
      d = await describeSchedule(name);
      return d.actionsTaken >= n && d.running.length === 0 && d.recent.every((r) => r.status !== 'RUNNING');
    },
    timeoutMs,
  );
  return d as Described;
}

/** DID names under a prefix, with their sizes and checksums, as the official client lists them. */
const listScript = `
import json, sys
from rucio.client import Client
c = Client()
out = {}
for d in c.list_dids(sys.argv[1], {"name": sys.argv[2] + "*"}, did_type="file", long=True):
    out[d["name"]] = {"bytes": d.get("bytes")}
print(json.dumps(out))
`;
const filesIn = (prefix: string) => pythonRucio<Record<string, { bytes: number }>>(listScript, ['user.demo', prefix]);

describe('rucio-ingest schedule: Temporal Schedules scanning a watched directory (real sandbox)', () => {
  const dir = tempDir();
  const queue = uniq('schedule');
  let worker: { child: ChildProcess; output: () => string };
  const created: string[] = [];
  beforeAll(() => {
    worker = spawnWorker(queue);
  });
  afterAll(async () => {
    for (const name of created) await cli(['schedule', 'delete', name]);
    worker?.child.kill('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const common = (token: string, taskQueue = queue) => [
    ...['--scope', 'user.demo', '--layout', 'tree', '--name-prefix', `${token}/`],
    ...['--dataset', `user.demo:${token}-top`, '--rse', 'LANDING-1', '--task-queue', taskQueue],
  ];

  it('triggered twice, the second scan ingests only what was added in between; backfill runs the missed scans; a failed file pauses it; delete removes it', async () => {
    const token = uniq('sched');
    const name = token;
    const watched = path.join(dir, token);
    writeSmallFiles(watched, 'a', 5, () => 'run1');
    // Once a year: no scheduled scan fires during the test, only those asked for.
    const create = await cli([
      ...['schedule', 'create', name, watched, '--cron', '0 0 1 1 *', ...common(token)],
      '--pause-on-failure',
    ]);
    expect(create.code, create.err).toBe(0);
    created.push(name);
    expect(create.out).toMatch(/next 20\d\d-01-01T00:00:00/);
    const again = await cli(['schedule', 'create', name, watched, '--cron', '0 0 1 1 *', ...common(token)]);
    expect(again.code).toBe(2);
    expect(again.err).toMatch(/schedule .* exists/);

    expect((await cli(['schedule', 'trigger', name])).code).toBe(0);
    let d = await settled(name, 1);
    const first = d.recent[0]!;
    expect(first.status).toBe('COMPLETED');
    expect(first.result).toMatchObject({ files: 5, batch: { counts: { done: 5, failed: 0 } } });
    expect(first.batchId).toMatch(new RegExp(`^${name}-\\d{8}-\\d{6}$`));

    writeSmallFiles(watched, 'b', 3, () => 'run2');
    expect((await cli(['schedule', 'trigger', name])).code).toBe(0);
    d = await settled(name, 2);
    expect(d.recent[0]!.result).toMatchObject({ files: 3, seen: 5, batch: { counts: { done: 3, failed: 0 } } });
    expect(d.recent[0]!.batchId).not.toBe(first.batchId);
    const names = Object.keys(await filesIn(`${token}/`)).sort();
    expect(names).toHaveLength(8);
    expect(names.filter((n) => n.startsWith(`${token}/run2/`))).toHaveLength(3);
    // Each scan's batch is a batch like any other.
    const status = await cli(['batch', 'status', first.batchId]);
    expect(status.out).toMatch(/5 done/);

    // The two actions of the last two years the schedule missed, run one after another: the first takes the
    // new file, the second finds nothing new.
    writeSmallFiles(watched, 'c', 1, () => 'run3');
    const year = new Date().getUTCFullYear();
    const backfill = await cli([
      ...['schedule', 'backfill', name],
      ...['--from', `${year - 2}-12-31T00:00:00Z`, '--to', `${year}-01-02T00:00:00Z`],
    ]);
    expect(backfill.code, backfill.err).toBe(0);
    d = await settled(name, 4);
    const backfilled = d.recent.filter((r) => /-01-01T00:00:00/.test(r.scheduledAt));
    expect(backfilled.map((r) => r.scheduledAt.slice(0, 4)).sort()).toEqual([String(year - 1), String(year)]);
    expect(backfilled.map((r) => r.result?.files).sort()).toEqual([0, 1]);
    expect(Object.keys(await filesIn(`${token}/`))).toHaveLength(9);

    // A file the lifecycle refuses (0 bytes): the scan fails, and --pause-on-failure pauses the schedule.
    fs.mkdirSync(path.join(watched, 'run4'));
    fs.writeFileSync(path.join(watched, 'run4', 'empty.dat'), '');
    expect((await cli(['schedule', 'trigger', name])).code).toBe(0);
    d = await settled(name, 5);
    expect(d.recent[0]!.status).toBe('FAILED');
    expect(d.recent[0]!.failure).toMatch(/1 of 1 files of batch .* failed/);
    await until('the schedule paused', async () => (await describeSchedule(name)).paused);
    const text = await cli(['schedule', 'describe', name]);
    expect(text.out).toMatch(/PAUSED/);
    expect(text.out).toMatch(/FAILED/);

    const del = await cli(['schedule', 'delete', name]);
    expect(del.code, del.err).toBe(0);
    created.splice(created.indexOf(name), 1);
    const gone = await cli(['schedule', 'describe', name]);
    expect(gone.code).toBe(2);
    expect(gone.err).toMatch(/no schedule/);
    const list = await cli(['schedule', 'list', '--json']);
    expect((JSON.parse(list.out) as Array<{ name: string }>).map((s) => s.name)).not.toContain(name);
  }, 600_000);

  it('a scan asked for by hand is not dropped: paused, with a scheduled scan waiting behind a running one, it still runs after it', async () => {
    const token = uniq('manual');
    const name = token;
    const watched = path.join(dir, token);
    writeSmallFiles(watched, 'a', 1, () => 'run1');
    // Scans go to a queue no worker polls yet: the first one keeps running, the next scheduled one waits.
    const idle = uniq('schedule-idle');
    const create = await cli(['schedule', 'create', name, watched, '--every', '2s', ...common(token, idle)]);
    expect(create.code, create.err).toBe(0);
    created.push(name);
    await until('the first scan running', async () => (await describeSchedule(name)).running.length === 1);
    await new Promise((r) => setTimeout(r, 5000)); // two more fire times: one scheduled scan waits
    expect((await cli(['schedule', 'pause', name])).code).toBe(0);
    expect((await cli(['schedule', 'trigger', name])).code).toBe(0);
    expect(await describeSchedule(name)).toMatchObject({ paused: true, actionsTaken: 1 });

    const late = spawnWorker(idle);
    try {
      // The running scan ends, then the one asked for runs; the paused schedule starts nothing else.
      const d = await settled(name, 2, 120_000);
      expect(d.actionsTaken).toBe(2);
      expect(d.recent.map((r) => r.status)).toEqual(['COMPLETED', 'COMPLETED']);
      expect(d.recent.map((r) => r.result?.files).sort()).toEqual([0, 1]);
      await new Promise((r) => setTimeout(r, 4000));
      expect((await describeSchedule(name)).actionsTaken).toBe(2);
    } finally {
      late.child.kill('SIGTERM');
    }
  }, 300_000);

  it('a paused schedule starts nothing; running every few seconds with --settle, it takes a file being written slowly only once complete', async () => {
    const token = uniq('settle');
    const name = token;
    const watched = path.join(dir, token);
    fs.mkdirSync(path.join(watched, 'run1'), { recursive: true });
    const create = await cli([
      ...['schedule', 'create', name, watched, '--every', '3s', '--settle', '4', '--paused', '--note', 'not yet'],
      ...common(token),
    ]);
    expect(create.code, create.err).toBe(0);
    created.push(name);
    await new Promise((r) => setTimeout(r, 7000));
    let d = await describeSchedule(name);
    expect(d).toMatchObject({ paused: true, note: 'not yet', actionsTaken: 0, running: [] });

    // Written in 10 pieces a second apart, while scans run every 3 s; a settle time of 4 s lets it wait.
    const slow = path.join(watched, 'run1', 'slow.dat');
    const pieces = Array.from({ length: 10 }, (_, i) => Buffer.alloc(50_000, 65 + i));
    fs.writeFileSync(slow, pieces[0]!);
    expect((await cli(['schedule', 'unpause', name])).code).toBe(0);
    for (const p of pieces.slice(1)) {
      await new Promise((r) => setTimeout(r, 1000));
      fs.appendFileSync(slow, p);
    }
    const size = fs.statSync(slow).size;
    expect(size).toBe(500_000);
    await until('the slow file in Rucio', async () => Object.keys(await filesIn(`${token}/`)).length > 0, 120_000);
    expect((await cli(['schedule', 'pause', name])).code).toBe(0);
    const seen = await filesIn(`${token}/`);
    expect(Object.keys(seen)).toEqual([`${token}/run1/slow.dat`]);
    expect(seen[`${token}/run1/slow.dat`]!.bytes).toBe(size);

    // Every scan that ran while it was written took nothing and failed nothing.
    d = await settled(name, 1);
    expect(d.actionsTaken).toBeGreaterThanOrEqual(3);
    const taking = d.recent.filter((r) => (r.result?.files ?? 0) > 0);
    expect(taking).toHaveLength(1);
    expect(taking[0]!.result).toMatchObject({ files: 1, batch: { counts: { done: 1, failed: 0 } } });
    expect(d.recent.some((r) => r.result?.waiting.settling === 1)).toBe(true);
    expect(d.recent.every((r) => r.status === 'COMPLETED')).toBe(true);
  }, 300_000);

  it('with triggers and sidecars: a file without its trigger or sidecar waits; a trigger goes after success and stays after a failure', async () => {
    const token = uniq('trig');
    const name = token;
    const watched = path.join(dir, token);
    const run = path.join(watched, 'run1');
    fs.mkdirSync(run, { recursive: true });
    const put = (file: string, content: string, opts: { trigger?: boolean; meta?: boolean }) => {
      const f = path.join(run, file);
      fs.writeFileSync(f, content);
      if (opts.meta) fs.writeFileSync(`${f}.meta`, JSON.stringify({ file }));
      if (opts.trigger) fs.writeFileSync(`${f}.trigger`, '');
      return f;
    };
    const good = put('good.dat', `good ${token}`, { trigger: true, meta: true });
    const empty = put('empty.dat', '', { trigger: true, meta: true }); // refused: 0 bytes
    const late = put('late.dat', `late ${token}`, { meta: true }); // no trigger yet
    const bare = put('bare.dat', `bare ${token}`, { trigger: true }); // no sidecar yet
    const create = await cli([
      ...['schedule', 'create', name, watched, '--cron', '0 0 1 1 *', ...common(token)],
      ...['--trigger-suffix', '.trigger', '--meta-sidecar', '.meta', '--require-sidecar'],
    ]);
    expect(create.code, create.err).toBe(0);
    created.push(name);

    expect((await cli(['schedule', 'trigger', name])).code).toBe(0);
    let d = await settled(name, 1);
    expect(d.recent[0]!.status).toBe('FAILED'); // empty.dat failed
    expect(fs.existsSync(`${good}.trigger`)).toBe(false);
    expect(fs.existsSync(`${empty}.trigger`)).toBe(true);
    expect(fs.existsSync(`${late}.trigger`)).toBe(false);
    expect(fs.existsSync(`${bare}.trigger`)).toBe(true);
    expect(Object.keys(await filesIn(`${token}/`))).toEqual([`${token}/run1/good.dat`]);

    // Announced and described meanwhile: the next scan takes them, and neither of the first two again.
    fs.writeFileSync(`${late}.trigger`, '');
    fs.writeFileSync(`${bare}.meta`, JSON.stringify({ file: 'bare.dat' }));
    expect((await cli(['schedule', 'trigger', name])).code).toBe(0);
    d = await settled(name, 2);
    expect(d.recent[0]).toMatchObject({ status: 'COMPLETED', result: { files: 2, batch: { counts: { done: 2 } } } });
    expect(Object.keys(await filesIn(`${token}/`)).sort()).toEqual(
      ['bare.dat', 'good.dat', 'late.dat'].map((f) => `${token}/run1/${f}`),
    );
    for (const f of [late, bare]) expect(fs.existsSync(`${f}.trigger`), f).toBe(false);
    expect(fs.existsSync(`${empty}.trigger`)).toBe(true);
  }, 300_000);
});
