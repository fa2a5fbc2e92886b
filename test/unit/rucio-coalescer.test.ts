import { describe, expect, it } from 'vitest';
import { Coalescer, ItemFailure, isTransientError } from '../../src/rucio/coalescer.js';
import { RucioError } from '../../src/rucio/errors.js';
import { messageNamesDid } from '../../src/rucio/bulk.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A coalescer whose flush records its batches and answers `key/item*10`, failing as `fail` says. */
function recording(
  opts: Partial<ConstructorParameters<typeof Coalescer<number, string>>[0]> = {},
  fail?: (items: number[]) => unknown,
) {
  const batches: Array<{ key: string; items: number[] }> = [];
  const c = new Coalescer<number, string>({
    windowMs: 20,
    ...opts,
    flush: async (key, items) => {
      batches.push({ key, items: [...items] });
      await sleep(1);
      const err = fail?.(items);
      if (err) throw err;
      return items.map((i) => `${key}/${i * 10}`);
    },
  });
  return { c, batches };
}

const permanent = (msg = 'bad item') => new RucioError(msg, 'permanent', 'DataIdentifierNotFound', 404);

describe('Coalescer', () => {
  it('gathers the submissions of one window into one flush, results in order to their callers', async () => {
    const { c, batches } = recording({ windowMs: 300 });
    const first = [1, 2, 3].map((i) => c.submit('k', i));
    await sleep(5);
    const late = [4, 5].map((i) => c.submit('k', i)); // still within the first item's window
    expect(await Promise.all([...first, ...late])).toEqual(['k/10', 'k/20', 'k/30', 'k/40', 'k/50']);
    expect(batches).toEqual([{ key: 'k', items: [1, 2, 3, 4, 5] }]);
    // After the window: a new batch.
    expect(await c.submit('k', 6)).toBe('k/60');
    expect(batches).toHaveLength(2);
    expect(c.stats).toMatchObject({ submitted: 6, flushes: 2, splits: 0 });
  });

  it('waits the busy window after a call that carried several items, and the short one for a caller alone', async () => {
    const { c, batches } = recording({ windowMs: 10, busyWindowMs: 300 });
    const waited = async (items: number[]) => {
      const t0 = Date.now();
      await Promise.all(items.map((i) => c.submit('k', i)));
      return Date.now() - t0;
    };
    expect(await waited([1])).toBeLessThan(200); // alone: the short window
    expect(await waited([2, 3])).toBeLessThan(200); // the key was not busy yet
    expect(await waited([4])).toBeGreaterThanOrEqual(290); // the last call carried two: busy
    expect(await waited([5])).toBeLessThan(200); // the last call carried one: not busy any more
    // Another key is not busy because this one was.
    await waited([6, 7]);
    expect(await waited([8])).toBeGreaterThanOrEqual(290);
    const t0 = Date.now();
    await c.submit('other', 9);
    expect(Date.now() - t0).toBeLessThan(200);
    expect(batches.map((b) => b.items)).toEqual([[1], [2, 3], [4], [5], [6, 7], [8], [9]]);
  });

  it('sends a batch at maxItems at once, without waiting for the window', async () => {
    const { c, batches } = recording({ windowMs: 60_000, maxItems: 3 });
    const ps = [1, 2, 3, 4, 5, 6, 7].map((i) => c.submit('k', i));
    expect(batches.map((b) => b.items)).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(c.pending).toBe(1);
    await c.close(); // sends the rest now
    expect(await Promise.all(ps)).toEqual([10, 20, 30, 40, 50, 60, 70].map((n) => `k/${n}`));
    expect(batches.map((b) => b.items)).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
    await expect(c.submit('k', 8)).rejects.toThrow(/closed/);
  });

  it('keeps a batch under maxBytes (an oversized item goes alone)', async () => {
    const { c, batches } = recording({ maxBytes: 25, sizeOf: (i) => (i === 9 ? 100 : 10) });
    await Promise.all([1, 2, 3, 9, 4, 5].map((i) => c.submit('k', i)));
    expect(batches.map((b) => b.items)).toEqual([[1, 2], [3], [9], [4, 5]]);
  });

  it('splits on a permanent bulk error, down to the one bad item, which alone gets the error', async () => {
    const bad = permanent('Data identifier x:bad not found');
    const { c, batches } = recording({}, (items) => (items.includes(5) ? bad : undefined));
    const ps = [1, 2, 3, 4, 5, 6, 7, 8].map((i) => c.submit('k', i));
    const settled = await Promise.allSettled(ps);
    settled.forEach((s, i) => {
      if (i === 4) expect(s).toEqual({ status: 'rejected', reason: bad });
      else expect(s).toEqual({ status: 'fulfilled', value: `k/${(i + 1) * 10}` });
    });
    // 8 -> 4+4 -> 2+2 -> 1+1: one failing call per level plus the good halves.
    expect(batches.map((b) => b.items)).toEqual([
      [1, 2, 3, 4, 5, 6, 7, 8],
      [1, 2, 3, 4],
      [5, 6, 7, 8],
      [5, 6],
      [7, 8],
      [5],
      [6],
    ]);
    expect(c.stats.splits).toBe(3);
  });

  it('isolates several bad items', async () => {
    const { c } = recording({}, (items) => (items.some((i) => i % 4 === 0) ? permanent() : undefined));
    const settled = await Promise.allSettled(Array.from({ length: 13 }, (_, i) => c.submit('k', i + 1)));
    expect(settled.map((s) => s.status === 'fulfilled')).toEqual(
      Array.from({ length: 13 }, (_, i) => (i + 1) % 4 !== 0),
    );
  });

  it('resends without the item an error blames (no halving)', async () => {
    const { c, batches } = recording(
      { blame: (err, _k, items) => items.indexOf(Number(/item (\d+)/.exec((err as Error).message)?.[1])) },
      (items) => (items.includes(3) ? permanent('item 3 is bad') : undefined),
    );
    const settled = await Promise.allSettled([1, 2, 3, 4, 5].map((i) => c.submit('k', i)));
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect(batches.map((b) => b.items)).toEqual([
      [1, 2, 3, 4, 5],
      [1, 2, 4, 5],
    ]);
    expect(c.stats).toMatchObject({ blamed: 1, splits: 0 });
  });

  it('regroups as told after an error that names no item (e.g. by scope), instead of halving', async () => {
    const { c, batches } = recording(
      {
        regroup: (_e, _k, items) => [
          items.flatMap((x, i) => (x >= 100 ? [i] : [])),
          items.flatMap((x, i) => (x < 100 ? [i] : [])),
        ],
      },
      (items) => (items.includes(100) ? permanent('Scope not found!') : undefined),
    );
    const settled = await Promise.allSettled([1, 2, 100, 3].map((i) => c.submit('k', i)));
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect(batches.map((b) => b.items)).toEqual([[1, 2, 100, 3], [100], [1, 2, 3]]);
    // A regrouping that is not a partition of the batch is ignored: halves.
    const bad = recording({ regroup: () => [[0], [0, 1]] }, (items) => (items.includes(2) ? permanent() : undefined));
    await Promise.allSettled([1, 2].map((i) => bad.c.submit('k', i)));
    expect(bad.batches.map((b) => b.items)).toEqual([[1, 2], [1], [2]]);
  });

  it('rejects every caller with a transient error, unsplit', async () => {
    const down = new RucioError('POST /replicas: ECONNREFUSED', 'retryable', 'ECONNREFUSED');
    const { c, batches } = recording({}, () => down);
    const settled = await Promise.allSettled([1, 2, 3, 4].map((i) => c.submit('k', i)));
    expect(settled).toEqual(Array.from({ length: 4 }, () => ({ status: 'rejected', reason: down })));
    expect(batches).toHaveLength(1);

    const http503 = new RucioError('HTTP 503', 'retryable', 'HTTP503', 503);
    const raw = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    expect([http503, raw, { status: 502 }].map(isTransientError)).toEqual([true, true, true]);
    expect(
      [permanent(), new Error('x'), new RucioError('dup', 'already-done', 'Duplicate')].map(isTransientError),
    ).toEqual([false, false, false]);
  });

  it('rejects every caller, unsplit, when the error applies to the whole batch', async () => {
    const gone = new RucioError('RSE NOPE not found', 'permanent', 'RSENotFound', 404);
    const { c, batches } = recording(
      { appliesToAll: (err) => (err as RucioError).exceptionClass === 'RSENotFound' },
      () => gone,
    );
    const settled = await Promise.allSettled([1, 2, 3].map((i) => c.submit('NOPE', i)));
    expect(settled.every((s) => s.status === 'rejected' && s.reason === gone)).toBe(true);
    expect(batches).toHaveLength(1);
  });

  it('keeps keys apart', async () => {
    const { c, batches } = recording();
    const ps = [c.submit('a', 1), c.submit('b', 2), c.submit('a', 3), c.submit('b', 4), c.submit('c', 5)];
    expect(await Promise.all(ps)).toEqual(['a/10', 'b/20', 'a/30', 'b/40', 'c/50']);
    expect(batches.sort((x, y) => x.key.localeCompare(y.key))).toEqual([
      { key: 'a', items: [1, 3] },
      { key: 'b', items: [2, 4] },
      { key: 'c', items: [5] },
    ]);
    // A failure under one key does not touch another's batch.
    const { c: c2 } = recording({}, (items) => (items.includes(1) ? permanent() : undefined));
    const r = await Promise.allSettled([c2.submit('a', 1), c2.submit('b', 1), c2.submit('b', 2)]);
    expect(r.map((s) => s.status)).toEqual(['rejected', 'rejected', 'fulfilled']);
  });

  it('routes per-item failures returned by the flush to their callers only, nothing resent', async () => {
    let calls = 0;
    const c = new Coalescer<number, number>({
      windowMs: 5,
      flush: async (_k, items) => {
        calls++;
        return items.map((i) => (i < 0 ? new ItemFailure(new Error(`negative ${i}`)) : i * 2));
      },
    });
    const settled = await Promise.allSettled([1, -2, 3].map((i) => c.submit('', i)));
    expect(settled[0]).toEqual({ status: 'fulfilled', value: 2 });
    expect(settled[1]).toMatchObject({ status: 'rejected', reason: { message: 'negative -2' } });
    expect(settled[2]).toEqual({ status: 'fulfilled', value: 6 });
    expect(calls).toBe(1);
  });

  it('sends an item of the same identity once per batch; its callers share the result', async () => {
    const { c, batches } = recording({ identity: (i) => String(i) });
    expect(await Promise.all([7, 7, 8, 7].map((i) => c.submit('k', i)))).toEqual(['k/70', 'k/70', 'k/80', 'k/70']);
    expect(batches).toEqual([{ key: 'k', items: [7, 8] }]);
  });

  describe('with maxInFlight', () => {
    /** A flush that takes `ms`, recording its batches and the most calls of one key at once. */
    function slow(ms: number, opts: Partial<ConstructorParameters<typeof Coalescer<number, string>>[0]> = {}) {
      const batches: number[][] = [];
      let now = 0;
      let most = 0;
      const c = new Coalescer<number, string>({
        windowMs: 5,
        maxInFlight: 1,
        ...opts,
        flush: async (key, items) => {
          batches.push([...items]);
          most = Math.max(most, ++now);
          await sleep(ms);
          now -= 1;
          return items.map((i) => `${key}/${i}`);
        },
      });
      return { c, batches, most: () => most };
    }

    it('gathers while a call of the key is in flight, and sends the gathered items when it returns', async () => {
      const { c, batches, most } = slow(80);
      const first = c.submit('k', 1);
      await sleep(20); // the first call is out
      const later = [2, 3, 4].map((i) => c.submit('k', i));
      await sleep(20); // their window has passed: they wait for the call
      const last = c.submit('k', 5); // still joins them
      expect(await Promise.all([first, ...later, last])).toEqual(['k/1', 'k/2', 'k/3', 'k/4', 'k/5']);
      expect(batches).toEqual([[1], [2, 3, 4, 5]]);
      expect(most()).toBe(1);
    });

    it('queues full batches in order behind the call in flight; other keys are not held up', async () => {
      const { c, batches, most } = slow(30, { maxItems: 2 });
      const ps = [1, 2, 3, 4, 5].map((i) => c.submit('k', i));
      const other = c.submit('o', 9);
      await sleep(10);
      expect(batches).toEqual([[1, 2], [9]]);
      expect(await Promise.all([...ps, other])).toEqual(['k/1', 'k/2', 'k/3', 'k/4', 'k/5', 'o/9']);
      expect(batches).toEqual([[1, 2], [9], [3, 4], [5]]);
      expect(most()).toBe(2); // one per key
    });

    it('close waits for every queued batch', async () => {
      const { c, batches } = slow(20, { maxItems: 2, windowMs: 60_000 });
      const ps = [1, 2, 3, 4, 5].map((i) => c.submit('k', i));
      await c.close();
      expect(c.pending).toBe(0);
      expect(batches).toEqual([[1, 2], [3, 4], [5]]);
      expect(await Promise.all(ps)).toHaveLength(5);
    });
  });

  it('rejects all callers when the flush answers the wrong number of results', async () => {
    const c = new Coalescer<number, number>({ windowMs: 1, flush: async () => [1] });
    const settled = await Promise.allSettled([1, 2].map((i) => c.submit('', i)));
    expect(settled.every((s) => s.status === 'rejected' && /returned 1 results/.test(String(s.reason)))).toBe(true);
  });

  it('finds a DID named in a Rucio message, not a longer name sharing its start', () => {
    const d = { scope: 'user.demo', name: 'f-1' };
    expect(messageNamesDid("Data identifier 'user.demo:f-1' not found", d)).toBe(true);
    expect(messageNamesDid('Data identifier user.demo:f-1 is not valid.', d)).toBe(true);
    expect(messageNamesDid('can not add metadata to data identifier user.demo:f-1', d)).toBe(true);
    expect(messageNamesDid('... identifier user.demo:f-1.', d)).toBe(true);
    expect(messageNamesDid("Data identifier 'user.demo:f-10' not found", d)).toBe(false);
    expect(messageNamesDid("Data identifier 'user.demo:f-1.dat' not found", d)).toBe(false);
    expect(messageNamesDid("Data identifier 'xuser.demo:f-1' not found", d)).toBe(false);
  });
});
