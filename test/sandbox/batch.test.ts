import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failedFiles, viewBatch } from '../../src/cli/batch-client.js';
import { temporalAddress, temporalNamespace } from '../../src/sandbox/temporal.js';
import { batchWorkflowId, type BatchStatus } from '../../src/shared/batch-input.js';
import { tempDir, uniq } from '../fixtures/ingest.js';
import { cli, deterministicPath, pythonRucio, storageListing, writeSmallFiles } from '../fixtures/batch.js';

/** What the official client sees under a name prefix: every DID, file metadata, dataset and container content. */
const inspectScript = `
import json, sys
from rucio.client import Client
c = Client()
scope, prefix = sys.argv[1], sys.argv[2]
out = {"files": {}, "datasets": {}, "containers": {}}
for d in c.list_dids(scope, {"name": prefix + "*"}, did_type="all", long=True):
    name, kind = d["name"], d["did_type"]
    if kind == "FILE":
        m = c.get_metadata(scope, name, plugin="ALL")
        out["files"][name] = {k: m.get(k) for k in ("adler32", "bytes", "original_name", "run", "camera", "night")}
    else:
        content = sorted(x["name"] for x in c.list_content(scope, name))
        out["datasets" if kind == "DATASET" else "containers"][name] = content
print(json.dumps(out))
`;

interface Seen {
  files: Record<string, Record<string, unknown>>;
  datasets: Record<string, string[]>;
  containers: Record<string, string[]>;
}

describe('rucio-ingest ingest: a night of files as one batch (real sandbox)', () => {
  const dir = tempDir();
  let client: Client;
  let connection: Connection;
  beforeAll(async () => {
    connection = await Connection.connect({ address: temporalAddress });
    client = new Client({ connection, namespace: temporalNamespace });
  });
  afterAll(async () => {
    await connection?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('ingests a tree with sidecar metadata and names needing sanitize, as mapped; the same command again ingests nothing new', async () => {
    const token = uniq('tree');
    const root = path.join(dir, token);
    // 200 files in 8 runs under two sources, MAGIC-like names with + and =.
    const files = writeSmallFiles(
      root,
      'x',
      200,
      (i) => `RAW_M1/${i % 2 ? 'Crab+Nebula' : 'UrsaMinor'}/2026_12_0${1 + (i % 4)}/run=${i % 8}`,
    );
    for (const [i, f] of files.entries()) fs.writeFileSync(`${f}.meta`, JSON.stringify({ run: i, camera: 'M1' }));
    const queue = uniq('batch-tree');
    const args = [
      'ingest',
      root,
      '--scope',
      'user.demo',
      '--layout',
      'tree',
      '--name-prefix',
      `${token}/`,
      '--name-rule',
      'sanitize',
      '--meta-sidecar',
      '.meta',
      '--meta',
      'night=20261201',
      '--rse',
      'LANDING-1',
      '--task-queue',
      queue,
      '--concurrency',
      '64',
      // Small pages: the batch continues-as-new several times.
      '--page-size',
      '40',
    ];
    const batchId = `${token}-a`;
    const r = await cli([...args, '--batch-id', batchId, '--wait', '--json']);
    expect(r.code, r.err).toBe(0);
    const summary = JSON.parse(r.out) as BatchStatus;
    expect(summary).toMatchObject({
      state: 'done',
      total: { files: 200 },
      counts: { taken: 200, done: 200, failed: 0, cancelled: 0, inFlight: 0, queued: 0, alreadyDone: 0 },
    });
    expect(summary.runs).toBeGreaterThanOrEqual(5);
    // The worker ran inside the CLI and logged to its file: nothing but the summary on the terminal.
    expect(r.err).not.toMatch(/"level"|Activity failed/);
    // The files reported their ends through the worker, many to a signal; none signalled the batch itself.
    // The worker started them, many to a local activity: no child workflows.
    const signals = new Map<string, number>();
    let childStarts = 0;
    let startMarkers = 0;
    let continued = 0;
    for await (const run of client.workflow.list({ query: `WorkflowId="${batchWorkflowId(batchId)}"` })) {
      const history = await client.workflow.getHandle(run.workflowId, run.runId).fetchHistory();
      const events = history.events ?? [];
      const can = events.findIndex((e) => e.workflowExecutionContinuedAsNewEventAttributes);
      if (can >= 0) {
        // It continued as new in a workflow task of its own, not in the one that ran the page's last start
        // (a long task that a report arriving meanwhile makes Temporal refuse).
        continued += 1;
        const taskEnd = events.slice(0, can).findLastIndex((e) => e.workflowTaskCompletedEventAttributes);
        expect(events.slice(taskEnd, can).filter((e) => e.markerRecordedEventAttributes)).toEqual([]);
      }
      for (const e of events) {
        const name = e.workflowExecutionSignaledEventAttributes?.signalName;
        if (name) signals.set(name, (signals.get(name) ?? 0) + 1);
        if (e.startChildWorkflowExecutionInitiatedEventAttributes) childStarts += 1;
        if (e.markerRecordedEventAttributes?.markerName === 'core_local_activity') startMarkers += 1;
      }
    }
    expect(signals.get('fileFinished') ?? 0).toBe(0);
    expect(signals.get('filesFinished')).toBeGreaterThan(0);
    expect(signals.get('filesFinished')).toBeLessThan(200);
    expect(childStarts).toBe(0);
    expect(startMarkers).toBeGreaterThan(0);
    expect(startMarkers).toBeLessThan(200);
    expect(continued).toBeGreaterThanOrEqual(4);
    let listed = 0;
    let firstFile: string | undefined;
    const someFiles: string[] = [];
    for await (const w of client.workflow.list({ query: `RucioBatch="${batchId}"` })) {
      listed += 1;
      expect(w.parentExecution).toBeUndefined();
      if (w.workflowId !== batchWorkflowId(batchId)) {
        firstFile ??= w.workflowId;
        if (someFiles.length < 20) someFiles.push(w.workflowId);
      }
    }
    expect(listed).toBeGreaterThan(0);
    // Eager start: a file's first workflow task was handed to the worker with its start, so Temporal wrote
    // the start, the task and the task's start in one go (consecutive task IDs; a task taken from the
    // queue is written later, by the poll). A file finds no free slot now and then: most, not all.
    let eager = 0;
    for (const id of someFiles) {
      const [started, scheduled, taken] = (await client.workflow.getHandle(id).fetchHistory()).events ?? [];
      const ids = [started, scheduled, taken].map((e) => Number(String(e?.taskId)));
      if (taken?.workflowTaskStartedEventAttributes && ids[1] === ids[0]! + 1 && ids[2] === ids[1]! + 1) eager += 1;
    }
    expect(eager).toBeGreaterThan(someFiles.length / 2);
    // Files of the current flow carry no patch marker (nor Temporal's upsert of one), and start in their
    // upload step: the only step upsert of a landing-only file is its end.
    const fileHistory = await client.workflow.getHandle(firstFile!).fetchHistory();
    const fileEvents = fileHistory.events ?? [];
    expect(fileEvents.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch')).toEqual([]);
    const upserts = fileEvents.flatMap((e) =>
      Object.keys(e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields ?? {}),
    );
    expect(upserts).toEqual(['IngestStep']);
    // Its upload registered it (one activity); its last workflow task told the batch (one local activity).
    const localActivities = fileEvents.filter(
      (e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity',
    );
    expect(localActivities).toHaveLength(1);
    expect(fileEvents.filter((e) => e.activityTaskScheduledEventAttributes)).toHaveLength(1);
    // The CLI ran the worker and stopped it when the batch ended: no file may be left open by then (a
    // report sent before a file's last workflow task left files running, with no worker to end them).
    const stillOpen: string[] = [];
    for await (const f of client.workflow.list({ query: `RucioBatch="${batchId}"` })) {
      const { status } = await client.workflow.getHandle(f.workflowId).describe();
      if (status.name !== 'COMPLETED') stillOpen.push(`${f.workflowId} ${status.name}`);
    }
    expect(stillOpen).toEqual([]);
    const started = fileEvents[0]?.workflowExecutionStartedEventAttributes?.searchAttributes?.indexedFields;
    expect(Buffer.from(started?.IngestStep?.data ?? []).toString()).toBe('"upload"');

    const seen = await pythonRucio<Seen>(inspectScript, ['user.demo', `${token}/`]);
    expect(Object.keys(seen.files)).toHaveLength(200);
    for (const [i, f] of files.entries()) {
      const rel = path.relative(root, f);
      const name = `${token}/${rel.replace(/[+=]/g, '_')}`;
      const meta = seen.files[name];
      expect(meta, name).toBeDefined();
      expect(meta).toMatchObject({ run: i, camera: 'M1', night: 20261201, bytes: fs.statSync(f).size });
      if (rel.includes('+')) expect(meta!.original_name).toBe(rel);
      // Datasets are the directories, containers every directory above.
      const ds = path.posix.dirname(name);
      expect(seen.datasets[ds]).toContain(name);
    }
    // i % 8 fixes the run, the night and the source: 8 datasets of 25 files.
    expect(Object.keys(seen.datasets)).toHaveLength(8);
    expect(seen.containers[`${token}/RAW_M1`]).toEqual([`${token}/RAW_M1/Crab_Nebula`, `${token}/RAW_M1/UrsaMinor`]);
    expect(seen.containers[`${token}/RAW_M1/UrsaMinor`]).toEqual(
      ['1', '3'].map((d) => `${token}/RAW_M1/UrsaMinor/2026_12_0${d}`),
    );
    // Sidecars are metadata, not data; storage holds exactly the 200 registered files.
    expect(Object.keys(seen.files).some((n) => n.endsWith('.meta'))).toBe(false);
    const expected = Object.keys(seen.files).map((n) => deterministicPath('user.demo', n));
    expect(storageListing('LANDING-1', token)).toEqual(expected.sort());

    // The same command again (a new batch): everything is found done, nothing is ingested twice.
    const again = await cli([...args, '--batch-id', `${token}-b`, '--wait', '--json']);
    expect(again.code, again.err).toBe(0);
    expect(JSON.parse(again.out)).toMatchObject({ counts: { done: 200, alreadyDone: 200, failed: 0 } });

    // status, list and failed, as a user runs them.
    const s = await cli(['batch', 'status', batchId]);
    expect(s.code, s.err).toBe(0);
    expect(s.out).toMatch(/COMPLETED/);
    expect(s.out).toMatch(/200 done/);
    const l = await cli(['batch', 'list', '--json']);
    expect((JSON.parse(l.out) as Array<{ batchId: string }>).map((b) => b.batchId)).toContain(batchId);
    const f = await cli(['batch', 'failed', batchId]);
    expect(f.code).toBe(0);
    expect(f.err).toMatch(/0 failed file/);
  }, 600_000);

  it('takes only complete files (trigger, sidecar, settle), removes the triggers of files done, and leaves the rest for the next run', async () => {
    const token = uniq('complete');
    const root = path.join(dir, token);
    fs.mkdirSync(root, { recursive: true });
    const old = new Date(Date.now() - 3600_000);
    const make = (name: string, opts: { trigger?: boolean; meta?: boolean; recent?: boolean }) => {
      const f = path.join(root, `${token}-${name}.dat`);
      fs.writeFileSync(f, `${name} ${token}`);
      if (!opts.recent) fs.utimesSync(f, old, old);
      if (opts.trigger) fs.writeFileSync(`${f}.trigger`, '');
      if (opts.meta) fs.writeFileSync(`${f}.meta`, JSON.stringify({ run: name }));
      return f;
    };
    const a = make('a', { trigger: true, meta: true }); // complete
    const b = make('b', { meta: true }); // no trigger yet
    const c = make('c', { trigger: true, meta: true, recent: true }); // still being written
    const d = make('d', { trigger: true }); // no sidecar yet
    const queue = uniq('batch-complete');
    const args = (batch: string) => [
      ...['ingest', root, '--scope', 'user.demo', '--dataset', `user.demo:${token}`, '--rse', 'LANDING-1'],
      ...['--meta-sidecar', '.meta', '--require-sidecar', '--trigger-suffix', '.trigger', '--settle', '600'],
      ...['--task-queue', queue, '--batch-id', `${token}-${batch}`],
    ];
    const first = await cli([...args('1'), '--wait', '--json']);
    expect(first.code, first.err).toBe(0);
    expect(JSON.parse(first.out)).toMatchObject({ total: { files: 1 }, counts: { done: 1, failed: 0 } });
    expect(fs.existsSync(`${a}.trigger`)).toBe(false); // done: its trigger is gone
    for (const f of [c, d]) expect(fs.existsSync(`${f}.trigger`), f).toBe(true);

    // Completed in between: b announced, c finished writing, d's sidecar arrived. a is not taken again.
    fs.writeFileSync(`${b}.trigger`, '');
    fs.utimesSync(c, old, old);
    fs.writeFileSync(`${d}.meta`, JSON.stringify({ run: 'd' }));
    const second = await cli([...args('2'), '--wait', '--json']);
    expect(second.code, second.err).toBe(0);
    expect(JSON.parse(second.out)).toMatchObject({
      total: { files: 3 },
      counts: { done: 3, failed: 0, alreadyDone: 0 },
    });
    for (const f of [a, b, c, d]) expect(fs.existsSync(`${f}.trigger`), f).toBe(false);

    const seen = await pythonRucio<Seen>(inspectScript, ['user.demo', `${token}-`]);
    expect(Object.keys(seen.files).sort()).toEqual(['a', 'b', 'c', 'd'].map((n) => `${token}-${n}.dat`));
    expect(seen.files[`${token}-d.dat`]).toMatchObject({ run: 'd' });

    // Nothing announced any more: nothing starts, and the request says why.
    const third = await cli(args('3'));
    expect(third.code).toBe(2);
    expect(third.err).toMatch(/no file of .* is complete yet \(4 no trigger file yet\)/);
  }, 600_000);

  it('refuses clashing names and a manifest line that does not parse before anything moves', async () => {
    const token = uniq('clash');
    const a = path.join(dir, `${token}-a`);
    const b = path.join(dir, `${token}-b`);
    writeSmallFiles(a, token, 3);
    writeSmallFiles(b, token, 3); // same base names: flat layout maps both to the same DIDs
    const common = ['--scope', 'user.demo', '--dataset', `user.demo:${token}`, '--rse', 'LANDING-1'];
    const clash = await cli(['ingest', a, b, ...common, '--task-queue', uniq('unused')]);
    expect(clash.code).toBe(2);
    expect(clash.err).toMatch(/3 DIDs would be ingested twice/);
    expect(clash.err).toContain(`user.demo:${token}-0000.dat`);

    const manifest = path.join(dir, `${token}.jsonl`);
    fs.writeFileSync(
      manifest,
      [
        JSON.stringify({ path: `${token}-a/${token}-0000.dat` }),
        '{"path": "broken',
        JSON.stringify({ path: `${token}-a/${token}-0001.dat`, colour: 'red' }),
      ].join('\n'),
    );
    const bad = await cli(['ingest', manifest, ...common, '--task-queue', uniq('unused')]);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/line 2/);
    expect(bad.err).toMatch(/line 3.*colour/);
    expect(bad.err).toMatch(/Nothing was started/);
    // Nothing in Rucio, nothing on storage.
    const seen = await pythonRucio<Seen>(inspectScript, ['user.demo', token]);
    expect(seen).toEqual({ files: {}, datasets: {}, containers: {} });
    expect(storageListing('LANDING-1', token)).toEqual([]);

    // A name Rucio refuses, without --name-rule sanitize; an unknown option.
    fs.writeFileSync(path.join(a, `${token} raw+1.dat`), 'x');
    const refused = await cli(['ingest', a, ...common, '--task-queue', uniq('unused')]);
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/1 files cannot be named in Rucio/);
    expect(refused.err).toMatch(/sanitize/);
    fs.rmSync(path.join(a, `${token} raw+1.dat`));
    const unknown = await cli(['ingest', a, ...common, '--no-such-option']);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/unknown option/);

    const noRse = await cli([
      'ingest',
      a,
      ...common.slice(0, 4),
      '--rse',
      'NO-SUCH-RSE',
      '--task-queue',
      uniq('unused'),
    ]);
    expect(noRse.code).toBe(2);
    expect(noRse.err).toMatch(/landing RSE NO-SUCH-RSE/);
  }, 120_000);

  it('counts failures by reason; retry after the cause is fixed retries only the failed files', async () => {
    const token = uniq('retry');
    const root = path.join(dir, token);
    const files = writeSmallFiles(root, token, 12);
    const broken = [2, 5, 9];
    for (const [i, f] of files.entries())
      fs.writeFileSync(`${f}.json`, broken.includes(i) ? '{"run": ' : JSON.stringify({ run: i }));
    const batchId = `${token}`;
    const queue = uniq('batch-retry');
    const first = await cli([
      'ingest',
      root,
      '--scope',
      'user.demo',
      '--dataset',
      `user.demo:${token}`,
      '--rse',
      'LANDING-1',
      '--meta-sidecar',
      '.json',
      '--task-queue',
      queue,
      '--batch-id',
      batchId,
      '--wait',
    ]);
    expect(first.code, first.err).toBe(1);
    // The worker the CLI ran logged its failed activities to a file, never between the progress lines.
    expect(first.err).toMatch(/running one in this process \(log: .*\.log\)/);
    expect(first.err).not.toMatch(/"level"|Activity failed/);
    expect(first.out).toMatch(/9 done, 3 failed/);
    expect(first.out).toMatch(/3 {2}InvalidSidecar/);
    expect(first.out).toContain(`rucio-ingest batch failed ${batchId}`);

    const failed = await cli(['batch', 'failed', batchId, '--json']);
    const list = failed.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { did: string; reason: string; message: string });
    expect(list.map((f) => f.did).sort()).toEqual(broken.map((i) => `user.demo:${path.basename(files[i]!)}`));
    expect(list.every((f) => f.reason === 'InvalidSidecar' && /sidecar/.test(f.message))).toBe(true);

    for (const i of broken) fs.writeFileSync(`${files[i]}.json`, JSON.stringify({ run: i }));
    const retry = await cli(['batch', 'retry', batchId, '--wait', '--json']);
    expect(retry.code, retry.err).toBe(0);
    expect(JSON.parse(retry.out)).toMatchObject({
      counts: { done: 12, failed: 0, taken: 12, queued: 0 },
      retries: 1,
    });
    // Only the three failed files ran again: every other file has exactly one run.
    const runs = new Map<string, number>();
    for await (const w of client.workflow.list({ query: `RucioBatch="${batchId}" AND WorkflowType="ingestFile"` }))
      runs.set(w.workflowId, (runs.get(w.workflowId) ?? 0) + 1);
    for (const [i, f] of files.entries())
      expect(runs.get(`ingest/user.demo:${path.basename(f)}`), f).toBe(broken.includes(i) ? 2 : 1);
    const after = [];
    for await (const f of failedFiles(client, batchId, (await viewBatch(client, batchId)).progress?.retriedAt))
      after.push(f);
    expect(after).toEqual([]);
  }, 300_000);
});
