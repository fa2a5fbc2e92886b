import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { RucioBulk } from '../../src/rucio/bulk.js';
import { RucioClient, type RucioRequestInfo } from '../../src/rucio/client.js';
import { addCollection, getMetadata, listContent, type Did } from '../../src/rucio/dids.js';
import { RucioError } from '../../src/rucio/errors.js';
import { addReplicas, listReplicas } from '../../src/rucio/replicas.js';
import { getRule, listDidRules, ruleSchema } from '../../src/rucio/rules.js';
import { accounts } from '../../src/sandbox/layout.js';
import { rucioUrl } from '../../src/sandbox/rucio-server.js';
import { randomReplica } from '../fixtures/replicas.js';

const run = randomUUID().slice(0, 8);
const scope = 'user.demo';
const N = 200;
const calls: RucioRequestInfo[] = [];
const a = accounts.ingest;
const rucio = new RucioClient(
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
const bulk = new RucioBulk(rucio);
const counts = new Map<string, number>();
afterAll(async () => {
  await bulk.close();
  await rucio.close();
  console.log(
    `REST calls per bulk operation (rucio-bulk.test.ts):\n${[...counts].map(([k, v]) => `  ${k}: ${v}`).join('\n')}`,
  );
});

/** API calls (not auth) made while running `f`. */
async function counted<T>(label: string, f: () => Promise<T>): Promise<{ value: T; calls: string[] }> {
  await rucio.authToken();
  const start = calls.length;
  const value = await f();
  const made = calls
    .slice(start)
    .filter((i) => i.kind === 'api')
    .map((i) => `${i.method} ${i.path} ${i.status}`);
  counts.set(label, made.length);
  return { value, calls: made };
}

/** `f(i)` for i < n, all at once, each caller on its own (as the files in flight on a worker). */
function concurrently<T>(n: number, f: (i: number) => Promise<T>): Promise<Array<PromiseSettledResult<T>>> {
  return Promise.allSettled(Array.from({ length: n }, (_, i) => f(i)));
}

function values<T>(settled: Array<PromiseSettledResult<T>>): T[] {
  return settled.map((s) => {
    if (s.status === 'rejected') throw s.reason;
    return s.value;
  });
}

function reason(s: PromiseSettledResult<unknown> | undefined): RucioError {
  expect(s?.status).toBe('rejected');
  const err = (s as PromiseRejectedResult).reason as unknown;
  expect(err).toBeInstanceOf(RucioError);
  return err as RucioError;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const fileOf = (name: string, size = 64) => randomReplica(scope, name, size);

const ceilCalls = (n: number) => Math.ceil(n / 1000);

describe('RucioBulk.addReplica', () => {
  const files = Array.from({ length: N }, (_, i) => fileOf(`bulk-rep-${run}-${i}.dat`, 32 + i));

  it(`${N} concurrent callers: 3 REST calls, each gets its own replica; again: 1 call, nothing changes`, async () => {
    const first = await counted(`addReplica x${N} (new)`, () =>
      concurrently(N, (i) => bulk.addReplica('LANDING-1', files[i]!)),
    );
    expect(first.calls).toEqual(['POST /replicas/list 200', 'POST /replicas 201', 'POST /replicas/list 200']);
    expect(first.calls.length).toBeLessThanOrEqual(ceilCalls(N) + 2);
    values(first.value).forEach((r, i) => {
      expect(r).toMatchObject({ scope, name: files[i]!.name, bytes: files[i]!.bytes, adler32: files[i]!.adler32 });
      expect(r.md5).toBe(files[i]!.md5);
      expect(r.states?.['LANDING-1']).toBe('AVAILABLE');
    });

    const again = await counted(`addReplica x${N} (retry, all there)`, () =>
      concurrently(N, (i) => bulk.addReplica('LANDING-1', { ...files[i]!, adler32: files[i]!.adler32.toUpperCase() })),
    );
    expect(again.calls).toEqual(['POST /replicas/list 200']);
    expect(values(again.value).map((r) => r.name)).toEqual(files.map((f) => f.name));
    const listed = await collect(listReplicas(rucio, files));
    expect(listed).toHaveLength(N);
    expect(listed.every((r) => Object.keys(r.states ?? {}).join() === 'LANDING-1')).toBe(true);
  });

  it('an unknown scope and a conflicting checksum fail only their own callers', async () => {
    const more = Array.from({ length: N }, (_, i) => fileOf(`bulk-rep2-${run}-${i}.dat`));
    const conflicting = { ...fileOf(files[7]!.name, files[7]!.bytes) }; // same name, other content
    const unknownScope = { ...fileOf(`bulk-rep-noscope-${run}.dat`), scope: `noscope${run.slice(0, 4)}` };
    const inputs = [...more.slice(0, 100), conflicting, ...more.slice(100), unknownScope];
    const res = await counted(`addReplica x${N + 2} (1 conflict, 1 unknown scope)`, () =>
      concurrently(inputs.length, (i) => bulk.addReplica('SAFE-1', inputs[i]!)),
    );
    expect(reason(res.value[100])).toMatchObject({ kind: 'permanent', exceptionClass: 'ChecksumMismatch' });
    expect(reason(res.value.at(-1))).toMatchObject({ kind: 'permanent', exceptionClass: 'ScopeNotFound' });
    const ok = res.value.filter((_, i) => i !== 100 && i !== inputs.length - 1);
    expect(values(ok).map((r) => [r.name, r.states?.['SAFE-1']])).toEqual(more.map((m) => [m.name, 'AVAILABLE']));
    expect(res.calls.length).toBeLessThanOrEqual(6); // list, add 404, then each scope apart: add 404; add, read back
    // Nothing was written for the conflicting file.
    const [seven] = await collect(listReplicas(rucio, [files[7]!]));
    expect(seven).toMatchObject({ adler32: files[7]!.adler32 });
    expect(seven!.states?.['SAFE-1']).toBeUndefined();
  });

  it('an unknown RSE fails all its callers at once, no split', async () => {
    const res = await counted('addReplica x5 (unknown RSE)', () =>
      concurrently(5, (i) => bulk.addReplica('NO-SUCH-RSE', files[i]!)),
    );
    for (const s of res.value) expect(reason(s)).toMatchObject({ exceptionClass: 'RSENotFound' });
    expect(res.calls).toHaveLength(2);
  });
});

describe('RucioBulk.register', () => {
  const datasets: Did[] = [0, 1].map((k) => ({ scope, name: `bulk-reg-ds${k}-${run}` }));
  const files = Array.from({ length: N }, (_, i) => fileOf(`bulk-reg-${run}-${i}.dat`, 40 + i));
  const datasetOf = (i: number) => datasets[i % 2]!;

  it(`${N} callers over 2 datasets: 1 REST call registers DIDs, replicas and attachments; again: 1 call, nothing changes`, async () => {
    for (const d of datasets) await addCollection(rucio, d, 'DATASET');
    const first = await counted(`register x${N} (new, 2 datasets)`, () =>
      concurrently(N, (i) => bulk.register('LANDING-1', datasetOf(i), files[i]!)),
    );
    values(first.value);
    expect(first.calls).toEqual(['POST /dids/attachments 201']);
    const listed = await collect(listReplicas(rucio, files));
    expect(listed).toHaveLength(N);
    for (const r of listed) {
      const f = files.find((x) => x.name === r.name)!;
      expect(r).toMatchObject({ bytes: f.bytes, adler32: f.adler32, md5: f.md5 });
      expect(r.states).toEqual({ 'LANDING-1': 'AVAILABLE' });
    }
    for (const [k, d] of datasets.entries()) {
      const content = await collect(listContent(rucio, d));
      expect(content.map((c) => c.name).sort()).toEqual(
        files
          .filter((_, i) => i % 2 === k)
          .map((f) => f.name)
          .sort(),
      );
    }

    const again = await counted(`register x${N} (retry, all there)`, () =>
      concurrently(N, (i) => bulk.register('LANDING-1', datasetOf(i), files[i]!)),
    );
    values(again.value);
    expect(again.calls).toEqual(['POST /dids/attachments 201']);
    expect(await collect(listReplicas(rucio, files))).toHaveLength(N);
    expect(await collect(listContent(rucio, datasets[0]!))).toHaveLength(N / 2);
  });

  it('a name registered with other content fails only its caller, before anything of it is written', async () => {
    const more = Array.from({ length: 20 }, (_, i) => fileOf(`bulk-reg2-${run}-${i}.dat`));
    const conflicting = fileOf(files[3]!.name, files[3]!.bytes); // same name and size, other content
    const res = await counted('register x21 (1 conflicting checksum)', () =>
      Promise.allSettled([
        ...more.map((f) => bulk.register('SAFE-1', datasets[0]!, f)),
        bulk.register('SAFE-1', datasets[0]!, conflicting),
      ]),
    );
    expect(reason(res.value[20])).toMatchObject({ exceptionClass: 'ChecksumMismatch' });
    expect(res.value.slice(0, 20).every((s) => s.status === 'fulfilled')).toBe(true);
    // Refused as a whole, then each file the careful way (list, add, read back, attach).
    expect(res.calls[0]).toBe('POST /dids/attachments 412'); // FileConsistencyMismatch
    const onSafe = await collect(listReplicas(rucio, [...more, files[3]!]));
    expect(
      onSafe
        .filter((r) => r.states?.['SAFE-1'] === 'AVAILABLE')
        .map((r) => r.name)
        .sort(),
    ).toEqual(more.map((f) => f.name).sort());
    expect(onSafe.find((r) => r.name === files[3]!.name)?.adler32).toBe(files[3]!.adler32);
  });

  it('a missing dataset fails its own callers only', async () => {
    const noDataset: Did = { scope, name: `bulk-reg-nods-${run}` };
    const f = Array.from({ length: 5 }, (_, i) => fileOf(`bulk-reg3-${run}-${i}.dat`));
    const res = await Promise.allSettled([
      ...f.slice(0, 3).map((x) => bulk.register('LANDING-1', datasets[1]!, x)),
      ...f.slice(3).map((x) => bulk.register('LANDING-1', noDataset, x)),
    ]);
    expect(res.slice(0, 3).every((s) => s.status === 'fulfilled')).toBe(true);
    for (const s of res.slice(3)) {
      expect(reason(s)).toMatchObject({ exceptionClass: 'DataIdentifierNotFound' });
      expect(reason(s).message).toContain(noDataset.name);
    }
  });
});

describe('RucioBulk.attach, setMetadata, listReplicas', () => {
  const files = Array.from({ length: N }, (_, i) => fileOf(`bulk-att-${run}-${i}.dat`));
  const dataset: Did = { scope, name: `bulk-att-ds-${run}` };

  it(`attach: ${N} callers, 1 call; again: 1 call, content unchanged`, async () => {
    await addReplicas(rucio, 'LANDING-1', files);
    await addCollection(rucio, dataset, 'DATASET');
    const first = await counted(`attach x${N}`, () => concurrently(N, (i) => bulk.attach(dataset, files[i]!)));
    values(first.value);
    expect(first.calls).toEqual(['POST /dids/attachments 201']);
    const again = await counted(`attach x${N} (retry)`, () => concurrently(N, (i) => bulk.attach(dataset, files[i]!)));
    values(again.value);
    expect(again.calls).toEqual(['POST /dids/attachments 201']);
    const content = await collect(listContent(rucio, dataset));
    expect(content.map((d) => d.name).sort()).toEqual(files.map((f) => f.name).sort());
  });

  it('attach: a missing file fails only its caller; a missing dataset only its own callers', async () => {
    const other: Did = { scope, name: `bulk-att-ds2-${run}` };
    await addCollection(rucio, other, 'DATASET');
    const missingFile = { scope, name: `bulk-att-missing-${run}.dat` };
    const noDataset = { scope, name: `bulk-att-nods-${run}` };
    const res = await counted(`attach x${N + 3} (1 missing file, 2 to a missing dataset)`, () =>
      Promise.allSettled([
        ...files.slice(0, 100).map((f) => bulk.attach(other, f)),
        bulk.attach(other, missingFile),
        ...files.slice(100).map((f) => bulk.attach(other, f)),
        bulk.attach(noDataset, files[0]!),
        bulk.attach(noDataset, files[1]!),
      ]),
    );
    expect(reason(res.value[100])).toMatchObject({ exceptionClass: 'DataIdentifierNotFound' });
    expect(reason(res.value[100]).message).toContain(missingFile.name);
    for (const s of res.value.slice(-2)) expect(reason(s).message).toContain(noDataset.name);
    expect(res.value.filter((s) => s.status === 'fulfilled')).toHaveLength(N);
    // Blamed by name: the failing call and one resend, plus the missing dataset's one call.
    expect(res.calls.sort()).toEqual([
      'POST /dids/attachments 201',
      'POST /dids/attachments 404',
      'POST /dids/attachments 404',
    ]);
    expect((await collect(listContent(rucio, other))).length).toBe(N);
  });

  it(`setMetadata: ${N} callers, 1 call, each DID its own values; again: unchanged; a missing DID fails alone`, async () => {
    const meta = (i: number) => ({ run: 1000 + i, telescope: `LST-${i % 4}`, zenith: i / 10 });
    const first = await counted(`setMetadata x${N}`, () =>
      concurrently(N, (i) => bulk.setMetadata(files[i]!, meta(i))),
    );
    values(first.value);
    expect(first.calls).toEqual(['POST /dids/bulkdidsmeta 201']);
    for (const i of [0, 1, 57, N - 1]) expect(await getMetadata(rucio, files[i]!, 'JSON')).toEqual(meta(i));

    const missing = { scope, name: `bulk-meta-missing-${run}.dat` };
    const again = await counted(`setMetadata x${N + 1} (retry + 1 missing DID)`, () =>
      Promise.allSettled([
        ...files.slice(0, 50).map((f, i) => bulk.setMetadata(f, meta(i))),
        bulk.setMetadata(missing, { run: 1 }),
        ...files.slice(50).map((f, i) => bulk.setMetadata(f, meta(i + 50))),
      ]),
    );
    expect(reason(again.value[50])).toMatchObject({ exceptionClass: 'DataIdentifierNotFound' });
    expect(again.value.filter((s) => s.status === 'fulfilled')).toHaveLength(N);
    expect(again.calls).toEqual(['POST /dids/bulkdidsmeta 404', 'POST /dids/bulkdidsmeta 201']);
    for (const i of [3, N - 2]) expect(await getMetadata(rucio, files[i]!, 'JSON')).toEqual(meta(i));
  });

  it(`listReplicas: ${N} callers, 1 call, routed per DID; an unknown DID gets undefined`, async () => {
    const missing = { scope, name: `bulk-list-missing-${run}.dat` };
    const dids = [...files, missing];
    const res = await counted(`listReplicas x${N + 1}`, () =>
      concurrently(dids.length, (i) => bulk.listReplicas(dids[i]!)),
    );
    expect(res.calls).toEqual(['POST /replicas/list 200']);
    const got = values(res.value);
    got.slice(0, N).forEach((r, i) => {
      expect(r).toMatchObject({ name: files[i]!.name, adler32: files[i]!.adler32, bytes: files[i]!.bytes });
      expect(r!.states?.['LANDING-1']).toBe('AVAILABLE');
    });
    expect(got[N]).toBeUndefined();
  });
});

describe('RucioBulk.addRule, ruleState', () => {
  const files = Array.from({ length: N }, (_, i) => fileOf(`bulk-rule-${run}-${i}.dat`));
  const rule = { copies: 1, rseExpression: 'LANDING-1', grouping: 'NONE' as const, comment: `bulk-${run}` };

  it(`${N} callers with one rule: 1 call, one id per DID in order; again: the same ids, nothing new`, async () => {
    await addReplicas(rucio, 'LANDING-1', files);
    const first = await counted(`addRule x${N} (new)`, () =>
      concurrently(N, (i) => bulk.addRule(files[i]!, rule, 'ingest')),
    );
    expect(first.calls).toEqual(['POST /rules/ 201']);
    const ids = values(first.value);
    expect(ids.every((r) => r.created)).toBe(true);
    expect(new Set(ids.map((r) => r.id)).size).toBe(N);
    // Which DID each rule is on: every rule of this run's comment, in one listing.
    const byName = new Map<string, string>();
    for await (const r of rucio.ndjson('/rules/', ruleSchema, {
      query: { scope, account: 'ingest', comments: rule.comment },
    }))
      byName.set(r.name, r.id);
    expect(files.map((f) => byName.get(f.name))).toEqual(ids.map((r) => r.id));

    const again = await counted(`addRule x${N} (retry, all exist)`, () =>
      concurrently(N, (i) => bulk.addRule(files[i]!, rule, 'ingest')),
    );
    expect(values(again.value)).toEqual(ids.map((r) => ({ id: r.id, created: false })));
    expect(again.calls.filter((c) => c.startsWith('POST /rules/ 409'))).toHaveLength(3);
    expect(again.calls.filter((c) => c.startsWith('POST /rules/ 201'))).toHaveLength(0);
    for (const f of [files[0]!, files[N - 1]!]) expect(await collect(listDidRules(rucio, f))).toHaveLength(1);
  });

  it('a DID with its rule already gets that id; a missing DID fails alone; the others are created', async () => {
    const more = Array.from({ length: N }, (_, i) => fileOf(`bulk-rule2-${run}-${i}.dat`));
    await addReplicas(rucio, 'LANDING-1', more);
    const existing = (await bulk.addRule(files[3]!, rule, 'ingest')).id; // from the test above
    const missing = { scope, name: `bulk-rule-missing-${run}.dat` };
    const dids = [...more.slice(0, 100), files[3]!, missing, ...more.slice(100)];
    const res = await counted(`addRule x${N + 2} (1 existing, 1 missing DID)`, () =>
      concurrently(dids.length, (i) => bulk.addRule(dids[i]!, rule, 'ingest')),
    );
    expect(res.value[100]).toEqual({ status: 'fulfilled', value: { id: existing, created: false } });
    expect(reason(res.value[101])).toMatchObject({ kind: 'permanent', exceptionClass: 'DataIdentifierNotFound' });
    const created = values(res.value.filter((_, i) => i !== 100 && i !== 101));
    expect(created.every((r) => r.created)).toBe(true);
    expect(new Set(created.map((r) => r.id)).size).toBe(N);
    expect(res.calls.length).toBeLessThanOrEqual(6);
    const sample = await getRule(rucio, created[150]!.id);
    expect(sample).toMatchObject({ name: more[150]!.name, rse_expression: 'LANDING-1', copies: 1 });
  });

  it('a bad expression fails every caller of that rule at once; other rules are unaffected', async () => {
    const res = await counted('addRule x6 (3 with a bad expression)', () =>
      Promise.allSettled([
        ...files.slice(0, 3).map((f) => bulk.addRule(f, { ...rule, rseExpression: 'NO-SUCH-RSE' }, 'ingest')),
        ...files.slice(0, 3).map((f) => bulk.addRule(f, { ...rule, rseExpression: 'LANDING-1\\SAFE-1' }, 'ingest')),
      ]),
    );
    for (const s of res.value.slice(0, 3)) expect(reason(s)).toMatchObject({ exceptionClass: 'InvalidRSEExpression' });
    expect(values(res.value.slice(3)).every((r) => r.created)).toBe(true);
    expect(res.calls.sort()).toEqual(['POST /rules/ 201', 'POST /rules/ 409']);
  });

  it(`ruleState: ${N} concurrent callers of 3 rules share 3 GETs`, async () => {
    const ids = values(await concurrently(3, (i) => bulk.addRule(files[i]!, rule, 'ingest'))).map((r) => r.id);
    const res = await counted(`ruleState x${N} (3 rules)`, () => concurrently(N, (i) => bulk.ruleState(ids[i % 3]!)));
    expect(res.calls).toHaveLength(3);
    values(res.value).forEach((r, i) => expect(r).toMatchObject({ id: ids[i % 3], state: 'OK' }));
  });
});

describe('RucioBulk, Rucio down', () => {
  it('every caller of a flush gets the transient error, nothing split', async () => {
    const seen: RucioRequestInfo[] = [];
    const down = new RucioClient(
      { ...rucio.config, rucioHost: 'http://127.0.0.1:1', authHost: 'http://127.0.0.1:1' },
      {
        onRequest: (i) => seen.push(i),
      },
    );
    down.setToken('not-a-real-token');
    const b = new RucioBulk(down);
    const settled = await concurrently(50, (i) => b.attach({ scope, name: 'ds' }, { scope, name: `f${i}` }));
    for (const s of settled) expect(reason(s)).toMatchObject({ kind: 'retryable', exceptionClass: 'ECONNREFUSED' });
    expect(seen.filter((i) => i.kind === 'api')).toHaveLength(1);
    expect(b.stats.attach).toMatchObject({ submitted: 50, flushes: 1, splits: 0 });
    await b.close();
    await down.close();
  });
});
