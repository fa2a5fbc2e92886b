import { RucioError } from './errors.js';

/**
 * A per-item failure returned by a flush function in place of a result: that caller's promise rejects with
 * `error`, its neighbours in the same bulk call are not affected and nothing is resent.
 */
export class ItemFailure {
  constructor(readonly error: unknown) {}
}

export interface CoalescerOptions<I, R> {
  /** How long the first item of a batch waits for others (default 25 ms). */
  windowMs?: number;
  /**
   * The window instead, while the key is busy: its last call carried more than one item, so callers are
   * arriving together and a longer wait fills each call (default: `windowMs`). A caller alone still waits
   * only `windowMs`.
   */
  busyWindowMs?: number;
  /**
   * Bulk calls of one key in flight at once (default: unlimited). With a limit, a batch whose window has
   * passed waits for a call of its key to return and goes on gathering meanwhile: the slower Rucio answers,
   * the fuller each call, so a loaded server gets fewer calls, and an idle one still answers within the window.
   */
  maxInFlight?: number;
  /** A batch is sent as soon as it holds this many distinct items (default 1000, Rucio's list limit). */
  maxItems?: number;
  /** A batch is sent before its items' summed `sizeOf` would exceed this (default 900 000: a body under 1 MB). */
  maxBytes?: number;
  /** Size of an item in the request body (default: the length of its JSON, plus one for the comma). */
  sizeOf?: (item: I) => number;
  /**
   * Send one bulk call for `items` (all of one key, at most `maxItems`), returning one result per item in
   * the same order, or an `ItemFailure` for an item that failed on its own. A thrown error is handled as
   * described on `Coalescer`.
   */
  flush: (key: string, items: I[]) => Promise<Array<R | ItemFailure>>;
  /** Errors that reject every caller of the flush at once, unsplit (default: `isTransientError`). */
  isTransient?: (err: unknown) => boolean;
  /** Permanent errors that concern the whole batch (e.g. its RSE or dataset does not exist): no split either. */
  appliesToAll?: (err: unknown, key: string, items: I[]) => boolean;
  /** The index of the item an error names, if any: it alone gets the error and the others are sent again. */
  blame?: (err: unknown, key: string, items: I[]) => number | undefined;
  /**
   * Groups (of item indices) to send apart after an error, instead of halves, e.g. by scope after a
   * `ScopeNotFound` that does not say which scope. Ignored unless it gives two or more non-empty groups.
   */
  regroup?: (err: unknown, key: string, items: I[]) => number[][] | undefined;
  /**
   * Items of the same identity submitted while one batch gathers are sent once and share its result
   * (e.g. the same DID twice: Rucio fails some bulk calls on duplicates).
   */
  identity?: (item: I) => string;
}

export interface CoalescerStats {
  /** Calls of `submit`. */
  submitted: number;
  /** Calls of the flush function (bulk requests, including resends after a split). */
  flushes: number;
  /** Batches split (in halves, or as `regroup` said) after a permanent error. */
  splits: number;
  /** Batches resent without the item an error blamed. */
  blamed: number;
}

interface Waiter<R> {
  resolve: (value: R) => void;
  reject: (err: unknown) => void;
}

interface Slot<I, R> {
  item: I;
  waiters: Array<Waiter<R>>;
}

interface Batch<I, R> {
  slots: Array<Slot<I, R>>;
  byIdentity: Map<string, Slot<I, R>>;
  bytes: number;
  timer?: NodeJS.Timeout;
  /** Its window has passed: it goes as soon as its key has a free call, gathering on until then. */
  due?: boolean;
}

/** Transport failures and 5xx, and the project's `retryable` Rucio errors: retried at the activity level. */
export function isTransientError(err: unknown): boolean {
  if (err instanceof RucioError) return err.retryable;
  const e = err as { code?: unknown; status?: unknown } | null;
  if (typeof e?.code === 'string' && /^(ECONN|ETIMEDOUT|EPIPE|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|UND_ERR)/.test(e.code))
    return true;
  return typeof e?.status === 'number' && e.status >= 500;
}

/**
 * Gathers concurrent requests of one kind, per key (an RSE, a dataset, a rule's options), and sends them as
 * one bulk call: after `windowMs` from a batch's first item, or at once when it reaches `maxItems` or
 * `maxBytes`. Each caller gets its own result or its own error:
 * - a transient error (`isTransient`) rejects every caller of that flush, unsplit, so they retry on their own;
 * - a permanent error that `appliesToAll` items rejects them all too (splitting would only repeat it);
 * - an error that `blame`s one item rejects that caller, and the others are sent again;
 * - any other error splits the batch in halves, sent again, down to single items, whose error goes to that
 *   caller only.
 * The flush function must therefore be idempotent: a resent half may contain items that reached Rucio.
 */
export class Coalescer<I, R> {
  readonly #windowMs: number;
  readonly #busyWindowMs: number;
  /** Keys whose last call carried more than one item. */
  readonly #busy = new Set<string>();
  readonly #maxItems: number;
  readonly #maxBytes: number;
  readonly #sizeOf: (item: I) => number;
  readonly #flush: CoalescerOptions<I, R>['flush'];
  readonly #isTransient: (err: unknown) => boolean;
  readonly #appliesToAll?: CoalescerOptions<I, R>['appliesToAll'];
  readonly #blame?: CoalescerOptions<I, R>['blame'];
  readonly #regroup?: CoalescerOptions<I, R>['regroup'];
  readonly #identity?: (item: I) => string;
  readonly #maxInFlight: number;
  readonly #pending = new Map<string, Batch<I, R>>();
  /** Full batches waiting for a free call of their key, oldest first. */
  readonly #queued = new Map<string, Array<Batch<I, R>>>();
  readonly #inflightByKey = new Map<string, number>();
  readonly #inflight = new Set<Promise<void>>();
  #closed = false;
  #stats: CoalescerStats = { submitted: 0, flushes: 0, splits: 0, blamed: 0 };

  constructor(opts: CoalescerOptions<I, R>) {
    this.#windowMs = opts.windowMs ?? 25;
    this.#busyWindowMs = opts.busyWindowMs ?? this.#windowMs;
    this.#maxItems = Math.max(1, opts.maxItems ?? 1000);
    this.#maxInFlight = Math.max(1, opts.maxInFlight ?? Infinity);
    this.#maxBytes = opts.maxBytes ?? 900_000;
    this.#sizeOf = opts.sizeOf ?? ((item) => JSON.stringify(item).length + 1);
    this.#flush = opts.flush;
    this.#isTransient = opts.isTransient ?? isTransientError;
    this.#appliesToAll = opts.appliesToAll;
    this.#blame = opts.blame;
    this.#regroup = opts.regroup;
    this.#identity = opts.identity;
  }

  get stats(): CoalescerStats {
    return { ...this.#stats };
  }

  /** Items waiting for their batch to be sent (not those in flight). */
  get pending(): number {
    let n = 0;
    for (const b of this.#pending.values()) n += b.slots.length;
    for (const q of this.#queued.values()) for (const b of q) n += b.slots.length;
    return n;
  }

  submit(key: string, item: I): Promise<R> {
    if (this.#closed) return Promise.reject(new Error('Coalescer is closed'));
    this.#stats.submitted++;
    return new Promise<R>((resolve, reject) => {
      const waiter = { resolve, reject };
      const id = this.#identity?.(item);
      const open = this.#pending.get(key);
      const same = id === undefined ? undefined : open?.byIdentity.get(id);
      if (same) {
        same.waiters.push(waiter);
        return;
      }
      const size = this.#sizeOf(item);
      if (open && open.slots.length > 0 && open.bytes + size > this.#maxBytes) this.#close(key);
      let batch = this.#pending.get(key);
      if (!batch) {
        batch = { slots: [], byIdentity: new Map(), bytes: 0 };
        this.#pending.set(key, batch);
      }
      const slot = { item, waiters: [waiter] };
      batch.slots.push(slot);
      if (id !== undefined) batch.byIdentity.set(id, slot);
      batch.bytes += size;
      if (batch.slots.length >= this.#maxItems || batch.bytes >= this.#maxBytes) this.#close(key);
      else batch.timer ??= setTimeout(() => this.#due(key), this.#busy.has(key) ? this.#busyWindowMs : this.#windowMs);
    });
  }

  /** Send every gathered batch now, without waiting for its window. */
  flushAll(): void {
    for (const key of [...this.#pending.keys()]) this.#due(key);
  }

  /** Refuse new items, send the gathered ones now and wait until every flush has settled. */
  async close(): Promise<void> {
    this.#closed = true;
    this.flushAll();
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
  }

  /** The open batch of `key` is full: no more items join it; it goes when its key has a free call. */
  #close(key: string): void {
    const batch = this.#pending.get(key);
    if (!batch) return;
    this.#pending.delete(key);
    if (batch.timer) clearTimeout(batch.timer);
    const q = this.#queued.get(key) ?? [];
    q.push(batch);
    this.#queued.set(key, q);
    this.#pump(key);
  }

  /** The open batch's window has passed: it goes now if its key has a free call, else it gathers on. */
  #due(key: string): void {
    const batch = this.#pending.get(key);
    if (!batch) return;
    if (batch.timer) clearTimeout(batch.timer);
    batch.timer = undefined;
    batch.due = true;
    this.#pump(key);
  }

  /** Send what may go for `key`: queued full batches first, then the open one if due. */
  #pump(key: string): void {
    while ((this.#inflightByKey.get(key) ?? 0) < this.#maxInFlight) {
      const q = this.#queued.get(key);
      let batch = q?.shift();
      if (q && q.length === 0) this.#queued.delete(key);
      if (!batch) {
        const open = this.#pending.get(key);
        if (!open?.due) return;
        this.#pending.delete(key);
        batch = open;
      }
      this.#inflightByKey.set(key, (this.#inflightByKey.get(key) ?? 0) + 1);
      if (batch.slots.length > 1) this.#busy.add(key);
      else this.#busy.delete(key);
      const p = this.#run(key, batch.slots).finally(() => {
        this.#inflight.delete(p);
        const n = (this.#inflightByKey.get(key) ?? 1) - 1;
        if (n > 0) this.#inflightByKey.set(key, n);
        else this.#inflightByKey.delete(key);
        this.#pump(key);
      });
      this.#inflight.add(p);
    }
  }

  async #run(key: string, slots: Array<Slot<I, R>>): Promise<void> {
    const items = slots.map((s) => s.item);
    let results: Array<R | ItemFailure>;
    this.#stats.flushes++;
    try {
      results = await this.#flush(key, items);
    } catch (err) {
      await this.#failed(key, slots, items, err);
      return;
    }
    if (!Array.isArray(results) || results.length !== slots.length) {
      const n = Array.isArray(results) ? results.length : typeof results;
      const err = new RucioError(
        `bulk flush of ${slots.length} items returned ${n} results`,
        'permanent',
        'InvalidResponse',
      );
      for (const s of slots) rejectAll(s, err);
      return;
    }
    slots.forEach((s, i) => {
      const r = results[i] as R | ItemFailure;
      if (r instanceof ItemFailure) rejectAll(s, r.error);
      else for (const w of s.waiters) w.resolve(r);
    });
  }

  async #failed(key: string, slots: Array<Slot<I, R>>, items: I[], err: unknown): Promise<void> {
    if (slots.length === 1 || this.#isTransient(err) || this.#judge(() => this.#appliesToAll?.(err, key, items))) {
      for (const s of slots) rejectAll(s, err);
      return;
    }
    const k = this.#judge(() => this.#blame?.(err, key, items));
    if (typeof k === 'number' && Number.isInteger(k) && k >= 0 && k < slots.length) {
      this.#stats.blamed++;
      rejectAll(slots[k]!, err);
      await this.#run(
        key,
        slots.filter((_, i) => i !== k),
      );
      return;
    }
    this.#stats.splits++;
    const groups = this.#judge(() => this.#regroup?.(err, key, items))?.filter((g) => g.length > 0);
    if (groups && groups.length > 1 && isPartition(groups, slots.length)) {
      await Promise.all(
        groups.map((g) =>
          this.#run(
            key,
            g.map((i) => slots[i]!),
          ),
        ),
      );
      return;
    }
    const mid = Math.ceil(slots.length / 2);
    await Promise.all([this.#run(key, slots.slice(0, mid)), this.#run(key, slots.slice(mid))]);
  }

  /** A classification hook that throws must not leave callers hanging: treat it as "no". */
  #judge<T>(f: () => T): T | undefined {
    try {
      return f();
    } catch {
      return undefined;
    }
  }
}

/** Whether `groups` hold every index below `n` exactly once. */
function isPartition(groups: number[][], n: number): boolean {
  const seen = new Set<number>();
  for (const i of groups.flat()) {
    if (!Number.isInteger(i) || i < 0 || i >= n || seen.has(i)) return false;
    seen.add(i);
  }
  return seen.size === n;
}

function rejectAll<I, R>(slot: Slot<I, R>, err: unknown): void {
  for (const w of slot.waiters) w.reject(err);
}
