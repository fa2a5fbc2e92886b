import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getMetadata } from '../../src/rucio/dids.js';
import { listReplicas } from '../../src/rucio/replicas.js';
import { listDidRules } from '../../src/rucio/rules.js';
import { deleteRseAttribute, lfns2pfns, rseAttributes, setRseAttribute } from '../../src/rucio/rses.js';
import { sandboxRucioClient } from '../../src/sandbox/bootstrap.js';
import { verifyAttribute } from '../../src/activities/verify-policy.js';
import { layout, rses } from '../../src/sandbox/layout.js';
import { reapOnce } from '../../src/sandbox/rucio-server.js';
import { psql } from '../../src/sandbox/postgres.js';
import { adapterFor, checksumFile } from '../../src/storage/index.js';
import type { IngestProgress, IngestResult } from '../../src/workflows/ingest-file.js';
import { saKeys } from '../../src/workflows/search-attribute-keys.js';
import { fileInput, startLifecycle, tempDir, uniq, writeRandomFile } from '../fixtures/ingest.js';
import { expectNoDid, failureOf } from '../fixtures/lifecycle-checks.js';

describe('file lifecycle on the sandbox', () => {
  let env: Awaited<ReturnType<typeof startLifecycle>>;
  const dir = tempDir();
  beforeAll(async () => {
    env = await startLifecycle();
  });
  afterAll(async () => {
    await env?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('uploads, registers, replicates to QoS targets, verifies and deletes the origin', async () => {
    const name = `${uniq('happy')}.fits`;
    const file = writeRandomFile(dir, name, 3 * 1024 * 1024 + 5);
    const sums = await checksumFile(file, { md5: true });
    const input = fileInput(file, { meta: ['telescope=LST-1', 'night=20261121'], deleteOrigin: true });
    const { handle, started } = await env.start(input);
    expect(started).toBe(true);
    const result = (await handle.result()) as IngestResult;

    expect(result.step).toBe('done');
    expect(result.checksums).toEqual(sums);
    expect(result.originDeleted).toBe(true);
    expect(fs.existsSync(file)).toBe(false);
    expect(result.replicas).toEqual({
      'CHEAP-1': 'AVAILABLE',
      'LANDING-1': 'AVAILABLE',
      'SAFE-1': 'AVAILABLE',
      'SAFE-2': 'AVAILABLE',
    });

    // Read the state back from Rucio itself.
    const did = { scope: 'user.demo', name };
    const replicas = [];
    for await (const r of listReplicas(env.rucio, [did])) replicas.push(r);
    expect(replicas).toHaveLength(1);
    expect(replicas[0]).toMatchObject({ bytes: sums.bytes, adler32: sums.adler32, md5: sums.md5 });
    expect(replicas[0]!.states).toEqual({
      'LANDING-1': 'AVAILABLE',
      'SAFE-1': 'AVAILABLE',
      'SAFE-2': 'AVAILABLE',
      'CHEAP-1': 'AVAILABLE',
    });
    const rules = [];
    for await (const r of listDidRules(env.rucio, did)) rules.push(r);
    expect(rules.map((r) => `${r.copies}x${r.rse_expression}:${r.state}`).sort()).toEqual([
      '1xLANDING-1:OK',
      '1xQOS=CHEAP-ANALYSIS:OK',
      '2xQOS=SAFE:OK',
    ]);
    expect(await getMetadata(env.rucio, did, 'JSON')).toMatchObject({ telescope: 'LST-1', night: 20261121 });

    // And from the storage: every replica holds the right bytes.
    for (const rse of ['LANDING-1', 'SAFE-1', 'SAFE-2', 'CHEAP-1']) {
      const pfn = (await lfns2pfns(env.rucio, rse, [did], { scheme: 'davs' }))[`user.demo:${name}`]!;
      expect((await adapterFor(pfn).verify(pfn, sums)).ok, rse).toBe(true);
    }
  });

  it('ingests from a non-deterministic origin RSE and hands its deletion to Rucio (MAGIC-style buffer)', async () => {
    const name = `${uniq('buffer')}.root`;
    const local = writeRandomFile(dir, name, 2 * 1024 * 1024 + 3);
    const sums = await checksumFile(local, { md5: true });
    const buffer = rses.find((r) => r.name === 'ONSITE-BUFFER')!;
    // A reaper pass that finds nothing to delete first (as an earlier test's may): the pass below must still
    // work on the buffer (the reaper pauses such an RSE for two minutes in Rucio's cache).
    await reapOnce(layout(), ['ONSITE-BUFFER']);
    // The DAQ wrote it into the buffer under its own (non-Rucio) path.
    const origin = `davs://127.0.0.1:${buffer.httpsPort}/rucio/daq/20261121/${name}`;
    await adapterFor(origin).upload(local, origin);
    const input = fileInput(origin, { originRse: 'ONSITE-BUFFER', qos: ['2:QOS=SAFE'], deleteOrigin: true });
    const result = (await (await env.start(input)).handle.result()) as IngestResult;
    expect(result.step).toBe('done');
    expect(result.checksums).toEqual(sums);
    expect(result.originDeleted).toBe(true);

    // The origin replica is catalogued with the same checksum and marked for deletion (tombstone now),
    // no rule protects it; the copies are rule-protected and verified.
    const did = { scope: 'user.demo', name };
    const replicas = [];
    for await (const r of listReplicas(env.rucio, [did])) replicas.push(r);
    expect(replicas[0]!.states).toMatchObject({
      'ONSITE-BUFFER': 'AVAILABLE',
      'SAFE-1': 'AVAILABLE',
      'SAFE-2': 'AVAILABLE',
    });
    // Catalogued where the DAQ put it, not at a Rucio-made path.
    expect(replicas[0]!.rses['ONSITE-BUFFER']).toEqual([origin]);
    const tombstone = await psql(
      'rucio',
      `select tombstone <= now() from replicas r join rses s on s.id = r.rse_id where s.rse = 'ONSITE-BUFFER' and r.scope = 'user.demo' and r.name = '${name}'`,
    );
    expect(tombstone.trim()).toBe('t');
    const rules = [];
    for await (const r of listDidRules(env.rucio, did)) rules.push(r.rse_expression);
    expect(rules.sort()).toEqual(['LANDING-1', 'QOS=SAFE']);

    // Rucio's reaper then deletes the bytes in the buffer and the catalogue follows; the copies stay.
    await reapOnce(layout(), ['ONSITE-BUFFER']);
    expect(await adapterFor(origin).stat(origin)).toBeUndefined();
    const after = [];
    for await (const r of listReplicas(env.rucio, [did])) after.push(r);
    expect(Object.keys(after[0]!.states ?? {}).sort()).toEqual(['LANDING-1', 'SAFE-1', 'SAFE-2']);
  }, 120_000);

  it('verifies copies the way the RSE asks (ingest_verify=readback) before deleting the origin', async () => {
    const root = sandboxRucioClient('root');
    await setRseAttribute(root, 'CHEAP-1', verifyAttribute, 'readback');
    // A new worker: workers keep RSE attributes for minutes, so the running one may not see it yet.
    const fresh = await startLifecycle();
    try {
      const file = writeRandomFile(dir, `${uniq('readback')}.dat`, 3 * 1024 * 1024);
      const input = fileInput(file, { qos: ['1:QOS=CHEAP-ANALYSIS', '1:SAFE-1'], deleteOrigin: true });
      const result = (await (await fresh.start(input)).handle.result()) as IngestResult;
      expect(result.verified).toEqual([
        { rse: 'CHEAP-1', method: 'readback' },
        { rse: 'SAFE-1', method: 'digest' },
      ]);
      expect(result.originDeleted).toBe(true);
    } finally {
      await fresh.stop();
      await deleteRseAttribute(root, 'CHEAP-1', verifyAttribute);
      await root.close();
    }
    expect(verifyAttribute in (await rseAttributes(env.rucio, 'CHEAP-1'))).toBe(false);
  });

  it('reports a rule not OK by its deadline (rucio mode) on the workflow, keeping the origin', async () => {
    const name = `${uniq('deadline')}.dat`;
    const file = writeRandomFile(dir, name, 4096);
    // No Rucio daemon runs here: the rule stays REPLICATING. The target's own deadline overrides the default.
    const input = fileInput(file, {
      qos: ['1:CHEAP-1,deadline=8'],
      mode: 'rucio',
      ruleDeadline: '3600',
      deleteOrigin: true,
    });
    const { handle } = await env.start(input);
    const f = await failureOf(handle.result());
    expect(f.type).toBe('RuleDeadlineExceeded');
    expect(f.message).toMatch(/\(1x CHEAP-1\) is REPLICATING after 8s: 0 locks OK, 1 replicating/);
    expect(f.message).toMatch(/The origin is kept. Inspect with 'rucio rule show [0-9a-f]{32}'/);
    const p = await handle.query<IngestProgress>('progress');
    expect(p.step).toBe('failed');
    expect(p.targets[0]!.stuck).toMatch(/is REPLICATING after 8s/);
    const sa = (await handle.describe()).typedSearchAttributes;
    expect(sa.get(saKeys.problem)).toBe('rule-replicating');
    expect(sa.get(saKeys.step)).toBe('failed');
    expect(fs.existsSync(file)).toBe(true);
  }, 60_000);

  it('runs one lifecycle when the same file is started twice, concurrently and after completion', async () => {
    const name = `${uniq('twice')}.dat`;
    const file = writeRandomFile(dir, name, 1024 * 1024);
    const input = fileInput(file, { qos: ['1:QOS=CHEAP-ANALYSIS'] });
    const [a, b] = await Promise.all([env.start(input), env.start(input)]);
    expect(a.handle.workflowId).toBe(b.handle.workflowId);
    const [ra, rb] = (await Promise.all([a.handle.result(), b.handle.result()])) as IngestResult[];
    expect(ra).toEqual(rb);

    const again = await env.start(input);
    expect(again.started).toBe(false);
    expect(await again.handle.result()).toEqual(ra);
    const runs = await env.client.workflow.list({ query: `WorkflowId = '${a.handle.workflowId}'` });
    const ids: string[] = [];
    for await (const run of runs) ids.push(run.runId);
    expect(ids).toHaveLength(1);
  });

  it('fails clearly on a missing file, registering nothing', async () => {
    const name = `${uniq('missing')}.dat`;
    const { handle } = await env.start(fileInput(path.join(dir, name)));
    const f = await failureOf(handle.result());
    expect(f.type).toBe('SourceNotReadable');
    expect(f.message).toMatch(/ENOENT/);
    await expectNoDid(env.rucio, { scope: 'user.demo', name });

    // Once the file is there, starting it again runs a new lifecycle (a failed one does not block it).
    writeRandomFile(dir, name, 4096);
    const again = await env.start(fileInput(path.join(dir, name), { qos: ['1:QOS=CHEAP-ANALYSIS'] }));
    expect(again.started).toBe(true);
    expect(((await again.handle.result()) as IngestResult).step).toBe('done');
  });

  it('refuses a 0-byte file by default and accepts it when allowed', async () => {
    const name = `${uniq('empty')}.dat`;
    const file = writeRandomFile(dir, name, 0);
    const f = await failureOf((await env.start(fileInput(file))).handle.result());
    expect(f.type).toBe('EmptySource');
    expect(f.message).toMatch(/--allow-empty/);
    const other = `${uniq('empty-ok')}.dat`;
    fs.copyFileSync(file, path.join(dir, other));
    const ok = (await (
      await env.start(fileInput(path.join(dir, other), { allowEmpty: true, qos: [] }))
    ).handle.result()) as IngestResult;
    expect(ok.checksums).toEqual({ bytes: 0, adler32: '00000001', md5: 'd41d8cd98f00b204e9800998ecf8427e' });
  });

  it('rejects a name Rucio would refuse before any workflow starts', () => {
    expect(() => fileInput('/tmp/x', { name: 'bad name with spaces' })).toThrow(/DID name/);
  });

  it('fails clearly on an unknown landing RSE and an invalid RSE expression', async () => {
    const file = writeRandomFile(dir, `${uniq('rse')}.dat`, 1000);
    const f1 = await failureOf((await env.start(fileInput(file, { rse: 'NO-SUCH-RSE' }))).handle.result());
    expect(f1.type).toBe('RSENotFound');
    expect(f1.message).toMatch(/landing RSE NO-SUCH-RSE \(--rse\)/);

    const file2 = writeRandomFile(dir, `${uniq('expr')}.dat`, 1000);
    const f2 = await failureOf((await env.start(fileInput(file2, { qos: ['1:QOS=(('] }))).handle.result());
    expect(f2.type).toBe('InvalidRSEExpression');
    expect(f2.message).toMatch(/QoS target 1:QOS=\(\( \(--qos\)/);
    expect(fs.existsSync(file2)).toBe(true);
    await expectNoDid(env.rucio, { scope: 'user.demo', name: path.basename(file) });
    await expectNoDid(env.rucio, { scope: 'user.demo', name: path.basename(file2) });
  });
});
