import { randomBytes } from 'node:crypto';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { RucioClient, type RucioRequestInfo } from '../../src/rucio/client.js';
import {
  addCollection,
  attach,
  getDid,
  getMetadata,
  listContent,
  setMetadata,
  setMetadataBulk,
  type Did,
} from '../../src/rucio/dids.js';
import { ensureCollection, ensureDataset, ensureRule, registerReplicas } from '../../src/rucio/ensure.js';
import { RucioError } from '../../src/rucio/errors.js';
import { RseCache } from '../../src/rucio/rse-cache.js';
import { RucioBulk } from '../../src/rucio/bulk.js';
import { DatasetCache } from '../../src/rucio/dataset-cache.js';
import { buildPfn, hashLfnPath } from '../../src/rucio/lfn2pfn.js';
import {
  addReplicas,
  declareTombstone,
  listReplicas,
  updateReplicaStates,
  type Replica,
} from '../../src/rucio/replicas.js';
import {
  addProtocol,
  addRse,
  getRse,
  lfns2pfns,
  listRses,
  rseAttributes,
  rseProtocols,
  setRseAttribute,
} from '../../src/rucio/rses.js';
import { addRule, deleteRule, getRule, listDidRules, updateRule } from '../../src/rucio/rules.js';
import { accounts, rses } from '../../src/sandbox/layout.js';
import { rucioUrl } from '../../src/sandbox/rucio-server.js';
import { randomReplica } from '../fixtures/replicas.js';

const run = randomBytes(4).toString('hex');
const scope = 'user.demo';
const calls: RucioRequestInfo[] = [];
function make(who: keyof typeof accounts): RucioClient {
  const a = accounts[who];
  return new RucioClient(
    {
      rucioHost: rucioUrl,
      authHost: rucioUrl,
      authType: 'userpass',
      account: a.account,
      username: a.username,
      password: a.password,
      insecure: false,
      source: 'test',
    },
    { onRequest: (i) => calls.push(i) },
  );
}
const rucio = make('ingest');
const root = make('root');
afterAll(async () => {
  await rucio.close();
  await root.close();
  console.log(
    `REST calls per helper (rucio-operations.test.ts):\n${[...counts].map(([k, v]) => `  ${k}: ${v}`).join('\n')}`,
  );
});

/** API calls (not auth) made while running `f`. */
const counts = new Map<string, number>();
async function counted<T>(label: string, f: () => Promise<T>): Promise<{ value: T; calls: string[] }> {
  await rucio.authToken(); // authenticate outside the count
  const start = calls.length;
  const value = await f();
  const made = calls
    .slice(start)
    .filter((i) => i.kind === 'api')
    .map((i) => `${i.method} ${i.path} ${i.status}`);
  counts.set(label, made.length);
  return { value, calls: made };
}

async function rejection(p: Promise<unknown>): Promise<RucioError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(RucioError);
    return err as RucioError;
  }
  throw new Error('expected a rejection');
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const fileOf = (name: string, size = 64) => randomReplica(scope, name, size);

beforeEach(() => {
  calls.length = 0;
});

describe('RSEs', () => {
  it('lists by expression, attributes and protocols', async () => {
    expect(await listRses(rucio, 'QOS=SAFE')).toEqual(['SAFE-1', 'SAFE-2']);
    expect(await listRses(rucio, 'QOS=SAFE|QOS=CHEAP-ANALYSIS')).toEqual(['CHEAP-1', 'SAFE-1', 'SAFE-2']);
    expect(await listRses(rucio)).toEqual(expect.arrayContaining(['ONSITE-BUFFER', 'LANDING-1']));
    expect(await rseAttributes(rucio, 'SAFE-1')).toMatchObject({ QOS: 'SAFE' });
    const protocols = await rseProtocols(rucio, 'LANDING-1');
    expect(protocols.map((p) => p.scheme)).toEqual(expect.arrayContaining(['davs', 'https', 'root']));
    const info = await getRse(rucio, 'ONSITE-BUFFER');
    expect(info).toMatchObject({ rse: 'ONSITE-BUFFER', deterministic: false });
  });

  it("our hash lfn2pfn equals Rucio's lfns2pfns (davs on LANDING-1)", async () => {
    const lfns = [
      { scope, name: `pfn-${run}.dat` },
      { scope, name: 'a/b/with-slash.fits' },
      { scope: 'cta', name: `run_${run}.h5` },
      { scope: 'lsst', name: 'raw.0001.fits' },
      { scope: 'userdata.x', name: 'n' }, // Rucio tests startswith('user'), not 'user.'
    ];
    const pfns = await lfns2pfns(rucio, 'LANDING-1', lfns, { scheme: 'davs', operation: 'write' });
    const davs = (await rseProtocols(rucio, 'LANDING-1')).find((p) => p.scheme === 'davs')!;
    for (const l of lfns) expect(pfns[`${l.scope}:${l.name}`]).toBe(buildPfn(davs, hashLfnPath(l.scope, l.name)));
    expect(Object.keys(pfns)).toHaveLength(lfns.length);
  });

  it('unknown RSE and bad expressions are permanent', async () => {
    expect(await rejection(getRse(rucio, 'NO-SUCH-RSE'))).toMatchObject({
      kind: 'permanent',
      exceptionClass: 'RSENotFound',
      status: 404,
    });
    expect(await rejection(listRses(rucio, 'QOS=SAFE&(('))).toMatchObject({
      kind: 'permanent',
      exceptionClass: 'InvalidRSEExpression',
    });
    expect(await rejection(listRses(rucio, 'NO-SUCH-RSE'))).toMatchObject({
      kind: 'permanent',
      exceptionClass: 'InvalidRSEExpression',
    });
    expect(await rejection(lfns2pfns(rucio, 'NO-SUCH-RSE', [{ scope, name: 'x' }]))).toMatchObject({
      kind: 'permanent',
    });
  });

  it('admin bootstrap operations are idempotent (root)', async () => {
    const rse = `TMP-${run.toUpperCase()}`;
    try {
      expect(await addRse(root, rse, { deterministic: true })).toBe(true);
      expect(await addRse(root, rse, { deterministic: true })).toBe(false);
      await setRseAttribute(root, rse, 'QOS', 'TEST-ONLY');
      await setRseAttribute(root, rse, 'QOS', 'TEST-ONLY');
      const p = (await rseProtocols(root, 'LANDING-1')).find((x) => x.scheme === 'davs')!;
      expect(await addProtocol(root, rse, p)).toBe(true);
      expect(await addProtocol(root, rse, p)).toBe(false);
      expect(await listRses(root, 'QOS=TEST-ONLY')).toEqual([rse]);
    } finally {
      await root.send('DELETE', `/rses/${rse}`);
    }
    expect(await rejection(getRse(root, rse))).toMatchObject({ exceptionClass: 'RSENotFound' });
  });
});

describe('DIDs', () => {
  const container: Did = { scope, name: `ops-cont-${run}` };
  const dataset: Did = { scope, name: `ops-ds-${run}` };

  it('ensureDataset creates the chain once and accepts it after', async () => {
    const first = await counted('ensureDataset (new dataset + container)', () =>
      ensureDataset(rucio, dataset, [container]),
    );
    expect(first.calls).toEqual([
      `POST /dids/${scope}/${container.name} 201`,
      `POST /dids/${scope}/${dataset.name} 201`,
      'POST /dids/attachments 201',
    ]);
    const again = await counted('ensureDataset (existing, retry)', () => ensureDataset(rucio, dataset, [container]));
    expect(again.calls).toHaveLength(5);
    const only = await counted('ensureDataset (new dataset, no container)', () =>
      ensureDataset(rucio, { scope, name: `ops-ds2-${run}` }),
    );
    expect(only.calls).toHaveLength(1);
    expect(await collect(listContent(rucio, container))).toEqual([
      expect.objectContaining({ scope, name: dataset.name, type: 'DATASET' }),
    ]);
    expect(await getDid(rucio, dataset)).toMatchObject({ type: 'DATASET', open: true });
  });

  it('duplicate DID is already-done; a type clash and invalid names are permanent', async () => {
    expect(await rejection(addCollection(rucio, dataset, 'DATASET'))).toMatchObject({
      kind: 'already-done',
      exceptionClass: 'DataIdentifierAlreadyExists',
    });
    expect(await rejection(ensureCollection(rucio, dataset, 'CONTAINER'))).toMatchObject({
      kind: 'permanent',
      exceptionClass: 'DataIdentifierTypeMismatch',
    });
    expect(await rejection(addCollection(rucio, { scope, name: 'bad name!' }, 'DATASET'))).toMatchObject({
      kind: 'permanent',
      exceptionClass: 'InvalidObject',
    });
    expect(await rejection(addCollection(rucio, { scope: 'nosuchscope', name: 'x' }, 'DATASET'))).toMatchObject({
      kind: 'permanent',
      exceptionClass: 'ScopeNotFound',
    });
    expect(await rejection(getDid(rucio, { scope, name: `missing-${run}` }))).toMatchObject({
      kind: 'permanent',
      exceptionClass: 'DataIdentifierNotFound',
    });
  });

  it('attach is idempotent (ignore_duplicate) and metadata round-trips', async () => {
    const f = fileOf(`ops-meta-${run}.dat`);
    await addReplicas(rucio, 'LANDING-1', [f]);
    const one = await counted('attach (1 file)', () => attach(rucio, [{ to: dataset, dids: [f] }]));
    expect(one.calls).toEqual(['POST /dids/attachments 201']);
    await attach(rucio, [{ to: dataset, dids: [f] }]);
    const content = await collect(listContent(rucio, dataset));
    expect(content.filter((d) => d.name === f.name)).toHaveLength(1);
    expect(await rejection(attach(rucio, [{ to: dataset, dids: [{ scope, name: `nope-${run}` }] }]))).toMatchObject({
      kind: 'permanent',
      exceptionClass: 'DataIdentifierNotFound',
    });

    await setMetadata(rucio, f, 'telescope', 'LST-1');
    await setMetadataBulk(rucio, f, { zenith_deg: 23.5, run: 42, tags: ['a', 'b'] });
    expect(await getMetadata(rucio, f, 'JSON')).toEqual({
      telescope: 'LST-1',
      zenith_deg: 23.5,
      run: 42,
      tags: ['a', 'b'],
    });
    const all = await getMetadata(rucio, f, 'ALL');
    expect(all).toMatchObject({ telescope: 'LST-1', bytes: f.bytes, adler32: f.adler32, did_type: 'FILE' });
    expect(await getMetadata(rucio, f)).toMatchObject({ bytes: f.bytes, md5: f.md5 });
  });
});

describe('replicas', () => {
  it('1500 replicas in one addReplicas call: two chunks, then a streamed list of 1500', async () => {
    const files = Array.from({ length: 1500 }, (_, i) => ({
      scope,
      name: `bulk-${run}-${String(i).padStart(4, '0')}.dat`,
      bytes: 100 + i,
      adler32: (i + 1).toString(16), // short on purpose: sent as 8 hex digits
    }));
    const add = await counted('addReplicas (1500 files)', () => addReplicas(rucio, 'LANDING-1', files));
    expect(add.calls).toEqual(['POST /replicas 201', 'POST /replicas 201']);

    const list = await counted('listReplicas (1500 files)', async () => {
      let n = 0;
      const names = new Set<string>();
      for await (const r of listReplicas(rucio, files)) {
        n++;
        names.add(r.name);
        expect(r.states?.['LANDING-1']).toBe('AVAILABLE');
        expect(r.adler32).toMatch(/^[0-9a-f]{8}$/);
      }
      return { n, names: names.size };
    });
    expect(list.value).toEqual({ n: 1500, names: 1500 });
    expect(list.calls).toEqual(['POST /replicas/list 200', 'POST /replicas/list 200']);
    const first = (await collect(listReplicas(rucio, [files[0]!])))[0]!;
    expect(first).toMatchObject({ bytes: 100, adler32: '00000001' });

    // Attaching 1500 files takes two calls (Rucio's limit is 1000 a call); listing the dataset's content
    // is then one NDJSON response of 1500 lines, parsed as a stream.
    const dataset = { scope, name: `bulk-ds-${run}` };
    await addCollection(rucio, dataset, 'DATASET');
    const attached = await counted('attach (1500 files)', () => attach(rucio, [{ to: dataset, dids: files }]));
    expect(attached.calls).toEqual(['POST /dids/attachments 201', 'POST /dids/attachments 201']);
    const content = await counted('listContent (1500 files)', async () => {
      const names = new Set<string>();
      for await (const d of listContent(rucio, dataset)) names.add(d.name);
      return names;
    });
    expect(content.calls).toHaveLength(1);
    expect(content.value.size).toBe(1500);
    expect(content.value.has(files[1499]!.name)).toBe(true);
  });

  it('updates replica states and declares a tombstone', async () => {
    const f = fileOf(`ops-state-${run}.dat`);
    await addReplicas(rucio, 'LANDING-1', [f]);
    const states = async () => (await collect(listReplicas(rucio, [f])))[0]?.states?.['LANDING-1'];
    await updateReplicaStates(rucio, 'LANDING-1', [{ scope, name: f.name, state: 'U' }]);
    expect(await states()).toBe('UNAVAILABLE');
    await updateReplicaStates(rucio, 'LANDING-1', [{ scope, name: f.name, state: 'A' }]);
    expect(await states()).toBe('AVAILABLE');
    await declareTombstone(rucio, 'LANDING-1', [f]);
    expect(await rejection(declareTombstone(rucio, 'SAFE-2', [f]))).toMatchObject({
      kind: 'permanent',
      exceptionClass: 'ReplicaNotFound',
    });
  });

  it('registerReplicas: 3 calls new, 1 call when already there, mismatch is a permanent ChecksumMismatch before any write', async () => {
    const f = fileOf(`ops-reg-${run}.dat`, 1234);
    const first = await counted('registerReplicas (1 new file)', () => registerReplicas(rucio, 'LANDING-1', [f]));
    expect(first.calls).toEqual(['POST /replicas/list 200', 'POST /replicas 201', 'POST /replicas/list 200']);
    expect(first.value[0]).toMatchObject({ bytes: 1234, adler32: f.adler32, md5: f.md5 });

    const again = await counted('registerReplicas (1 file, retry)', () => registerReplicas(rucio, 'LANDING-1', [f]));
    expect(again.calls).toEqual(['POST /replicas/list 200']);

    const second = await counted('registerReplicas (existing file, new RSE)', () =>
      registerReplicas(rucio, 'SAFE-1', [{ ...f, adler32: f.adler32.toUpperCase() }]),
    );
    expect(second.calls).toHaveLength(3);
    expect(Object.keys(second.value[0]!.states ?? {}).sort()).toEqual(['LANDING-1', 'SAFE-1']);

    const other = fileOf(f.name, 1234); // same name, other content
    const err = await rejection(registerReplicas(rucio, 'SAFE-2', [other]));
    expect(err).toMatchObject({ kind: 'permanent', exceptionClass: 'ChecksumMismatch' });
    expect(err.message).toMatch(/a different file has this name/);
    const after = (await collect(listReplicas(rucio, [f])))[0] as Replica;
    expect(after.states?.['SAFE-2']).toBeUndefined(); // nothing was written

    const many = Array.from({ length: 5 }, (_, i) => fileOf(`ops-reg5-${run}-${i}.dat`));
    const five = await counted('registerReplicas (5 new files)', () => registerReplicas(rucio, 'LANDING-1', many));
    expect(five.calls).toHaveLength(3);
    expect(five.value.map((r) => r.name)).toEqual(many.map((m) => m.name));
  });

  it('registerReplicas with what the caller just listed: 2 calls a further RSE, mismatch still refused before a write', async () => {
    const f = fileOf(`ops-known-${run}.dat`, 4321);
    const listed = await registerReplicas(rucio, 'LANDING-1', [f]);
    const next = await counted('registerReplicas (known, next RSE)', () =>
      registerReplicas(rucio, 'SAFE-1', [f], { known: listed }),
    );
    expect(next.calls).toEqual(['POST /replicas 201', 'POST /replicas/list 200']);
    expect(Object.keys(next.value[0]!.states ?? {}).sort()).toEqual(['LANDING-1', 'SAFE-1']);
    const other = fileOf(f.name, 4321);
    const err = await counted('registerReplicas (known, mismatch)', () =>
      rejection(registerReplicas(rucio, 'SAFE-2', [other], { known: next.value })),
    );
    expect(err.calls).toEqual([]);
    expect(err.value).toMatchObject({ kind: 'permanent', exceptionClass: 'ChecksumMismatch' });
  });

  it('DatasetCache: a dataset is ensured once for many files, concurrently too', async () => {
    const bulk = new RucioBulk(rucio);
    const cache = new DatasetCache(rucio, bulk);
    const ds = { scope, name: `ops-cache-ds-${run}` };
    const files = Array.from({ length: 4 }, (_, i) => fileOf(`ops-cache-${run}-${i}.dat`));
    const attached = await counted('DatasetCache.registerFile (4 files, concurrently)', () =>
      Promise.all(files.map((f) => cache.registerFile('LANDING-1', ds, [], f))),
    );
    await bulk.close();
    expect(attached.calls.filter((c) => c.startsWith('POST /dids/user.demo/'))).toEqual([
      `POST /dids/user.demo/ops-cache-ds-${run} 201`,
    ]);
    // The four files in flight share one registration call.
    expect(attached.calls.filter((c) => c.startsWith('POST /dids/attachments'))).toEqual([
      'POST /dids/attachments 201',
    ]);
    expect((await collect(listContent(rucio, ds))).map((d) => d.name).sort()).toEqual(files.map((f) => f.name));
  });

  it('registerReplicas on a non-deterministic RSE takes the given PFN', async () => {
    const f = fileOf(`ops-nd-${run}.dat`);
    const pfn = `davs://127.0.0.1:${rses.find((r) => r.name === 'ONSITE-BUFFER')!.httpsPort}/rucio/incoming/${f.name}`;
    const [r] = await registerReplicas(rucio, 'ONSITE-BUFFER', [{ ...f, pfn }]);
    expect(r!.states?.['ONSITE-BUFFER']).toBe('AVAILABLE');
  });
});

describe('rules', () => {
  const ds: Did = { scope, name: `ops-rule-ds-${run}` };

  it('add, get, list, update, ensureRule on a duplicate, delete', async () => {
    await ensureDataset(rucio, ds);
    const created = await counted('ensureRule (new)', () =>
      ensureRule(rucio, ds, { copies: 1, rseExpression: 'QOS=SAFE', comment: 'ops test' }, 'ingest'),
    );
    expect(created.calls).toEqual(['POST /rules/ 201']);
    expect(created.value.created).toBe(true);
    const id = created.value.id;

    const dup = await counted('ensureRule (duplicate)', () =>
      ensureRule(rucio, ds, { copies: 1, rseExpression: 'QOS=SAFE' }, 'ingest'),
    );
    expect(dup.value).toEqual({ id, created: false });
    expect(dup.calls).toEqual(['POST /rules/ 409', `GET /dids/${scope}/${ds.name}/rules 200`]);
    expect(await rejection(addRule(rucio, [ds], { copies: 1, rseExpression: 'QOS=SAFE' }, 'ingest'))).toMatchObject({
      kind: 'already-done',
      exceptionClass: 'DuplicateRule',
    });

    expect(await getRule(rucio, id)).toMatchObject({ id, rse_expression: 'QOS=SAFE', copies: 1, account: 'ingest' });
    expect((await collect(listDidRules(rucio, ds))).map((r) => r.id)).toEqual([id]);
    await updateRule(rucio, id, { lifetime: 3600, comment: 'updated' });
    const updated = await getRule(rucio, id);
    expect(updated.expires_at).toBeTruthy();
    expect(updated.comments).toBe('updated');

    // Rucio deletes softly: the rule gets an expiry within the hour and the judge-cleaner removes it.
    const [other] = await addRule(rucio, [ds], { copies: 1, rseExpression: 'SAFE-2' }, 'ingest');
    expect((await getRule(rucio, other!)).expires_at).toBeNull();
    const del = await counted('deleteRule', () => deleteRule(rucio, other!));
    expect(del.calls).toEqual([`DELETE /rules/${other} 200`]);
    const gone = await getRule(rucio, other!).catch((err: unknown) => err);
    if (gone instanceof RucioError) expect(gone).toMatchObject({ kind: 'permanent', exceptionClass: 'RuleNotFound' });
    else expect(Date.parse((gone as { expires_at: string }).expires_at)).toBeLessThanOrEqual(Date.now() + 3_660_000);
    await deleteRule(rucio, id, true);
  });

  it('bad rules are permanent', async () => {
    await ensureDataset(rucio, ds);
    expect(await rejection(addRule(rucio, [ds], { copies: 1, rseExpression: 'NO-SUCH-RSE' }, 'ingest'))).toMatchObject({
      kind: 'permanent',
      exceptionClass: 'InvalidRSEExpression',
    });
    expect(await rejection(addRule(rucio, [ds], { copies: 1, rseExpression: 'QOS=((' }, 'ingest'))).toMatchObject({
      kind: 'permanent',
      exceptionClass: 'InvalidRSEExpression',
    });
    expect(await rejection(addRule(rucio, [ds], { copies: 5, rseExpression: 'QOS=SAFE' }, 'ingest'))).toMatchObject({
      kind: 'permanent',
    });
    const before = calls.length;
    expect(await rejection(getRule(rucio, 'xyz'))).toMatchObject({
      kind: 'permanent',
      exceptionClass: 'InvalidObject',
    });
    expect(calls.length).toBe(before);
  });
});

describe('RseCache', () => {
  const dids = Array.from({ length: 20 }, (_, i) => ({ scope, name: `cache-${run}-${i}.dat` }));

  it('computes PFNs on a deterministic RSE after one confirmation by lfns2pfns', async () => {
    const cache = new RseCache(rucio);
    const { value: pfns, calls: made } = await counted('RseCache.pfn, 20 files on one RSE', async () => {
      const out: string[] = [];
      for (const d of dids) out.push(await cache.pfn('LANDING-1', d, 'davs', 'write'));
      return out;
    });
    expect(made).toEqual(['GET /rses/LANDING-1 200', 'GET /rses/LANDING-1/lfns2pfns 200']);
    const rucioSays = await lfns2pfns(rucio, 'LANDING-1', dids, { scheme: 'davs', operation: 'write' });
    expect(pfns).toEqual(dids.map((d) => rucioSays[`${d.scope}:${d.name}`]));
  });

  it('asks Rucio for every PFN on an RSE whose lfn2pfn algorithm is not hash', async () => {
    const rse = `TMP-ID-${run.toUpperCase()}`;
    try {
      await addRse(root, rse, { deterministic: true });
      await addProtocol(root, rse, (await rseProtocols(root, 'LANDING-1')).find((x) => x.scheme === 'davs')!);
      await setRseAttribute(root, rse, 'lfn2pfn_algorithm', 'identity');
      const cache = new RseCache(rucio);
      const { value: pfns, calls: made } = await counted('RseCache.pfn, 3 files, identity algorithm', async () => {
        const out: string[] = [];
        for (const d of dids.slice(0, 3)) out.push(await cache.pfn(rse, d, 'davs', 'write'));
        return out;
      });
      expect(made.filter((c) => c.includes('lfns2pfns'))).toHaveLength(3);
      expect(pfns[0]).toMatch(new RegExp(`/${scope}/${dids[0]!.name}$`));
      expect(pfns[0]).not.toContain(hashLfnPath(scope, dids[0]!.name));
    } finally {
      await root.send('DELETE', `/rses/${rse}`);
    }
  });

  it('keeps attributes and expression resolutions, but not failures', async () => {
    const cache = new RseCache(rucio);
    const { calls: made } = await counted('RseCache attributes + resolve, twice each', async () => {
      for (let i = 0; i < 2; i++) {
        expect(await cache.resolve('QOS=SAFE')).toEqual(['SAFE-1', 'SAFE-2']);
        expect(await cache.attributes('SAFE-1')).toMatchObject({ QOS: 'SAFE' });
      }
    });
    expect(made).toHaveLength(2);
    for (let i = 0; i < 2; i++) {
      expect(await rejection(cache.resolve('QOS=(('))).toMatchObject({ exceptionClass: 'InvalidRSEExpression' });
    }
  });
});
