import type { RucioClient } from './client.js';
import { Coalescer, ItemFailure, isTransientError, type CoalescerStats } from './coalescer.js';
import { pickDid, type Did } from './dids.js';
import { RucioError } from './errors.js';
import { addReplicas, listReplicas, normalizeAdler32, type NewReplica, type Replica } from './replicas.js';
import { addRule, getRule, listDidRules, type NewRule, type Rule } from './rules.js';

/** Batching limits of one kind of call. */
export interface BulkLimits {
  /** How long a batch waits for more callers (default 25 ms). */
  windowMs?: number;
  /** The wait while calls of the kind carry several items: see CoalescerOptions.busyWindowMs. */
  busyWindowMs?: number;
  /** Items per bulk call (default 1000, Rucio's limit for lists). */
  maxItems?: number;
  /** Summed JSON size of a batch's items (default 900 000: bodies stay under 1 MB). */
  maxBytes?: number;
  /** Bulk calls of one kind and key in flight at once: see CoalescerOptions.maxInFlight. */
  maxInFlight?: number;
}

export type BulkKind = 'register' | 'replicas' | 'attach' | 'metadata' | 'rules' | 'list';

export interface RucioBulkOptions extends BulkLimits {
  /** Per-kind overrides of the limits above. */
  limits?: Partial<Record<BulkKind, BulkLimits>>;
  /** Concurrent `GET /dids/.../rules` when many DIDs of a rule batch turn out to have their rule already. */
  ruleLookupConcurrency?: number;
}

export interface ListReplicasOptions {
  schemes?: string[];
  rseExpression?: string;
}

interface ReplicaItem {
  rse: string;
  file: NewReplica & { adler32: string };
}
interface AttachItem {
  dataset: Did;
  file: Did;
}
interface RegisterItem {
  dataset: Did;
  file: NewReplica & { adler32: string };
}
interface MetaItem {
  did: Did;
  meta: Record<string, unknown>;
}
interface RuleItem {
  did: Did;
  rule: NewRule;
  account: string;
}
interface ListItem {
  did: Did;
  opts: ListReplicasOptions;
}

/**
 * Per-file Rucio operations that coalesce across concurrent callers (the files in flight on a worker): each
 * caller asks for ONE file, and requests of the same kind gathered within a few milliseconds go to Rucio as
 * one bulk call (see `Coalescer`). Every caller gets its own result or its own error; every bulk call is
 * idempotent, so a retry after a timeout that did reach Rucio changes nothing.
 *
 * REST calls for up to 1000 concurrent callers (measured on the sandbox, see test/sandbox/rucio-bulk.test.ts):
 * - `register` per RSE (file DIDs, replicas and attachments to their datasets): 1; when Rucio refuses it,
 *   `addReplica` and `attach` for each file;
 * - `addReplica` per RSE: 3 (list, add, read back), 1 when all are registered already;
 * - `attach` per dataset, `setMetadata`, `addRule` per identical rule options, `listReplicas`: 1;
 * - `ruleState`: Rucio has no bulk rule GET (GET /rules/ filters take one value per column), so concurrent
 *   requests for the same rule id share one `GET /rules/<id>`.
 */
export class RucioBulk {
  readonly #c: RucioClient;
  readonly #register: Coalescer<RegisterItem, void>;
  readonly #replicas: Coalescer<ReplicaItem, Replica>;
  readonly #attach: Coalescer<AttachItem, void>;
  readonly #meta: Coalescer<MetaItem, void>;
  readonly #rules: Coalescer<RuleItem, { id: string; created: boolean }>;
  readonly #list: Coalescer<ListItem, Replica | undefined>;
  readonly #ruleGets = new Map<string, Promise<Rule>>();
  readonly #lookupConcurrency: number;
  /** Replicas listed for a submitted item: a resend after a split does not list them again. */
  readonly #listed = new WeakMap<ReplicaItem, Replica | null>();

  constructor(client: RucioClient, opts: RucioBulkOptions = {}) {
    this.#c = client;
    this.#lookupConcurrency = opts.ruleLookupConcurrency ?? 8;
    const limits = (kind: BulkKind): BulkLimits => ({
      windowMs: opts.limits?.[kind]?.windowMs ?? opts.windowMs,
      busyWindowMs: opts.limits?.[kind]?.busyWindowMs ?? opts.busyWindowMs,
      maxItems: opts.limits?.[kind]?.maxItems ?? opts.maxItems,
      maxBytes: opts.limits?.[kind]?.maxBytes ?? opts.maxBytes,
      maxInFlight: opts.limits?.[kind]?.maxInFlight ?? opts.maxInFlight,
    });
    this.#register = new Coalescer<RegisterItem, void>({
      ...limits('register'),
      identity: (i) =>
        JSON.stringify([didKey(i.dataset), i.file.scope, i.file.name, i.file.bytes, i.file.adler32, i.file.md5]),
      flush: (rse, items) => this.#flushRegister(rse, items),
      // Errors #flushRegister lets through are transient or about the RSE: the same for every file.
      appliesToAll: () => true,
    });
    this.#replicas = new Coalescer({
      ...limits('replicas'),
      identity: (i) =>
        JSON.stringify([i.file.scope, i.file.name, i.file.bytes, i.file.adler32, i.file.md5, i.file.pfn]),
      flush: (rse, items) => this.#flushReplicas(rse, items),
      appliesToAll: (err) => hasClass(err, RSE_REFUSALS),
      blame: (err, _key, items) =>
        blameNamed(
          err,
          items.map((i) => i.file),
        ),
      // "Scope not found!" does not say which: send each scope of the batch apart.
      regroup: (err, _key, items) =>
        hasClass(err, ['ScopeNotFound', 'AccessDenied']) ? groupBy(items, (i) => i.file.scope) : undefined,
    });
    this.#attach = new Coalescer<AttachItem, void>({
      ...limits('attach'),
      identity: (i) => didKey(i.file),
      flush: async (_key, items) => {
        await this.#c.send('POST', '/dids/attachments', {
          body: {
            ignore_duplicate: true,
            attachments: [{ ...pickDid(items[0]!.dataset), dids: items.map((i) => pickDid(i.file)) }],
          },
        });
        return items.map(() => undefined);
      },
      // The dataset missing or closed: every file of the batch would get the same answer.
      appliesToAll: (err, _key, items) => err instanceof RucioError && messageNamesDid(err.message, items[0]!.dataset),
      blame: (err, _key, items) =>
        blameNamed(
          err,
          items.map((i) => i.file),
        ),
    });
    this.#meta = new Coalescer<MetaItem, void>({
      ...limits('metadata'),
      identity: (i) => JSON.stringify([i.did.scope, i.did.name, i.meta]),
      flush: async (_key, items) => {
        // One transaction on the server: when one DID fails, no metadata of the call is written.
        await this.#c.send('POST', '/dids/bulkdidsmeta', {
          body: { dids: items.map((i) => ({ ...pickDid(i.did), meta: i.meta })) },
        });
        return items.map(() => undefined);
      },
      blame: (err, _key, items) =>
        blameNamed(
          err,
          items.map((i) => i.did),
        ),
    });
    this.#rules = new Coalescer({
      ...limits('rules'),
      identity: (i) => didKey(i.did),
      flush: (_key, items) => this.#flushRules(items),
      // Errors about the rule's options, the same for every DID of the batch.
      appliesToAll: (err) =>
        hasClass(err, [
          'InvalidRSEExpression',
          'InsufficientTargetRSEs',
          'InvalidRuleWeight',
          'InvalidValueForKey',
          'StagingAreaRuleRequiresLifetime',
          'ManualRuleApprovalBlocked',
          'InvalidSourceReplicaExpression',
          'AccountNotFound',
          'RSEWriteBlocked',
        ]),
      blame: (err, _key, items) =>
        blameNamed(
          err,
          items.map((i) => i.did),
        ),
    });
    this.#list = new Coalescer({
      ...limits('list'),
      identity: (i) => didKey(i.did),
      flush: async (_key, items) => {
        const found = new Map<string, Replica>();
        for await (const r of listReplicas(
          this.#c,
          items.map((i) => i.did),
          items[0]!.opts,
        ))
          found.set(didKey(r), r);
        return items.map((i) => found.get(didKey(i.did)));
      },
      appliesToAll: (err) => hasClass(err, ['InvalidRSEExpression']),
    });
  }

  /**
   * Register one file on deterministic `rse`, its file DID and replica, and attach it to `dataset`, in one
   * transaction: Rucio's `POST /dids/attachments` with an RSE adds the replicas (skipping those already there)
   * and refuses a file whose DID holds other bytes or checksums (`FileConsistencyMismatch`), writing nothing.
   * Callers on one RSE share one call, whatever their datasets: 1 REST call where `addReplica` + `attach`
   * cost 4. When Rucio refuses the call for a reason of its own (a file of other content, a dataset closed
   * or gone, a policy that does not let attachments register replicas), each file goes the careful way,
   * `addReplica` then `attach`, which says which file is at fault.
   */
  async register(rse: string, dataset: Did, file: NewReplica): Promise<void> {
    if (file.pfn !== undefined) throw new Error('register: a PFN needs addReplica (non-deterministic RSE)');
    return this.#register.submit(rse, { dataset: pickDid(dataset), file: withAdler32(file) });
  }

  /**
   * Register one file's replica on `rse` (its file DID too), idempotently, as `registerReplicas`: a replica
   * already there with the same bytes and checksums is success; a DID registered with other bytes or
   * checksums is this caller's permanent `ChecksumMismatch`, found before anything is written. Coalesced per
   * RSE into one `POST /replicas/list`, one `POST /replicas` for the missing ones and one read-back list.
   */
  async addReplica(rse: string, file: NewReplica): Promise<Replica> {
    return this.#replicas.submit(rse, { rse, file: withAdler32(file) });
  }

  /** Attach a file (or any DID) to `dataset`; `ignore_duplicate` makes it idempotent. Coalesced per dataset. */
  attach(dataset: Did, file: Did): Promise<void> {
    return this.#attach.submit(didKey(dataset), { dataset: pickDid(dataset), file: pickDid(file) });
  }

  /** Set several metadata keys of one DID (`POST /dids/bulkdidsmeta`, coalesced across DIDs). */
  setMetadata(did: Did, meta: Record<string, unknown>): Promise<void> {
    return this.#meta.submit('', { did: pickDid(did), meta });
  }

  /**
   * Add `rule` on `did`, or find the existing identical one (same account, expression and copies, as
   * `ensureRule`). Callers with identical rule options and account share one `POST /rules/` with many DIDs;
   * Rucio creates one rule per DID and returns their ids in the order of the DIDs.
   */
  addRule(did: Did, rule: NewRule, account: string): Promise<{ id: string; created: boolean }> {
    return this.#rules.submit(ruleKey(rule, account), { did: pickDid(did), rule, account });
  }

  /** The replicas of one file DID (any state), or undefined when Rucio has none. Coalesced per options. */
  listReplicas(did: Did, opts: ListReplicasOptions = {}): Promise<Replica | undefined> {
    const o = { schemes: opts.schemes, rseExpression: opts.rseExpression };
    return this.#list.submit(JSON.stringify(o), { did: pickDid(did), opts: o });
  }

  /**
   * A rule, for its `state` and lock counts. Rucio has no bulk rule GET, so this only shares one
   * `GET /rules/<id>` among concurrent callers asking for the same id.
   */
  ruleState(ruleId: string): Promise<Rule> {
    const id = ruleId.replace(/-/g, '').toLowerCase();
    let p = this.#ruleGets.get(id);
    if (!p) {
      p = getRule(this.#c, ruleId).finally(() => this.#ruleGets.delete(id));
      this.#ruleGets.set(id, p);
    }
    return p;
  }

  /** Calls per kind: submitted, bulk requests made, splits. */
  get stats(): Record<BulkKind, CoalescerStats> {
    return {
      register: this.#register.stats,
      replicas: this.#replicas.stats,
      attach: this.#attach.stats,
      metadata: this.#meta.stats,
      rules: this.#rules.stats,
      list: this.#list.stats,
    };
  }

  /** Send what is gathered now, refuse new calls and wait for every bulk call to settle. */
  async close(): Promise<void> {
    await Promise.all(
      [this.#register, this.#replicas, this.#attach, this.#meta, this.#rules, this.#list].map((c) => c.close()),
    );
  }

  async #flushRegister(rse: string, items: RegisterItem[]): Promise<Array<void | ItemFailure>> {
    // A name twice with other content (two sources, one DID) would fail the whole call: those go apart.
    const names = new Map<string, number>();
    for (const it of items) names.set(didKey(it.file), (names.get(didKey(it.file)) ?? 0) + 1);
    const together = items.filter((it) => names.get(didKey(it.file)) === 1);
    const done = new Set<RegisterItem>();
    if (together.length > 0) {
      try {
        await this.#c.send('POST', '/dids/attachments', {
          body: {
            ignore_duplicate: true,
            attachments: groupBy(together, (it) => didKey(it.dataset)).map((g) => ({
              ...pickDid(together[g[0]!]!.dataset),
              rse,
              dids: g.map((i) => {
                const { scope, name, bytes, adler32, md5 } = together[i]!.file;
                return md5 ? { scope, name, bytes, adler32, md5 } : { scope, name, bytes, adler32 };
              }),
            })),
          },
        });
        for (const it of together) done.add(it);
      } catch (err) {
        if (isTransientError(err) || hasClass(err, RSE_REFUSALS)) throw err;
      }
    }
    return Promise.all(
      items.map(async (it) => {
        if (done.has(it)) return undefined;
        try {
          await this.addReplica(rse, it.file);
          await this.attach(it.dataset, it.file);
          return undefined;
        } catch (err) {
          return new ItemFailure(err);
        }
      }),
    );
  }

  async #flushReplicas(rse: string, items: ReplicaItem[]): Promise<Array<Replica | ItemFailure>> {
    const out: Array<Replica | ItemFailure | undefined> = items.map(() => undefined);
    // Two different files of one name in one batch: the first goes, the other is refused (Rucio would
    // fail the whole call on the duplicate, or keep the first silently).
    const first = new Map<string, ReplicaItem>();
    items.forEach((it, i) => {
      const k = didKey(it.file);
      const other = first.get(k);
      if (!other) first.set(k, it);
      else out[i] = new ItemFailure(mismatch(k, other.file, it.file, 'is being registered at the same time'));
    });
    const unique = [...first.values()];
    const unlisted = unique.filter((it) => !this.#listed.has(it));
    if (unlisted.length > 0) {
      const found = await listedByDid(this.#c, unlisted);
      for (const it of unlisted) this.#listed.set(it, found.get(didKey(it.file)) ?? null);
    }
    const missing: ReplicaItem[] = [];
    const result = new Map<ReplicaItem, Replica | ItemFailure>();
    for (const it of unique) {
      const before = this.#listed.get(it) ?? null;
      const differs = before && sameFileError(before, it.file);
      if (differs) result.set(it, new ItemFailure(differs));
      else if (before && onRse(before, rse)) result.set(it, before);
      else missing.push(it);
    }
    if (missing.length > 0) {
      await addReplicas(this.#c, rse, files(missing));
      // Read back: another writer may have registered one of these names with other content meanwhile.
      const after = await listedByDid(this.#c, missing);
      for (const it of missing) {
        const r = after.get(didKey(it.file));
        const differs = r && sameFileError(r, it.file);
        if (differs) result.set(it, new ItemFailure(differs));
        else if (r && onRse(r, rse)) result.set(it, r);
        else {
          result.set(
            it,
            new ItemFailure(
              new RucioError(
                `${didKey(it.file)} has no replica on ${rse} after registration`,
                'retryable',
                'ReplicaNotFound',
              ),
            ),
          );
        }
      }
    }
    return items.map((it, i) => out[i] ?? result.get(first.get(didKey(it.file))!)!);
  }

  async #flushRules(items: RuleItem[]): Promise<Array<{ id: string; created: boolean } | ItemFailure>> {
    const { rule, account } = items[0]!;
    const results = new Map<number, { id: string; created: boolean } | ItemFailure>();
    let todo = items.map((_, i) => i);
    let duplicates = 0;
    while (todo.length > 0) {
      let ids: string[];
      try {
        ids = await addRule(
          this.#c,
          todo.map((i) => items[i]!.did),
          rule,
          account,
        );
      } catch (err) {
        if (!(err instanceof RucioError && err.exceptionClass === 'DuplicateRule')) throw err;
        // One transaction: nothing was created. Rucio's message names the first DID whose rule exists
        // (PostgreSQL: `Key (scope, name, account, rse_expression, copies)=(s, n, ...)`).
        const named = duplicateKey(err.message);
        const k = named ? todo.find((i) => didKey(items[i]!.did) === named) : undefined;
        duplicates++;
        if (k !== undefined && duplicates <= 2) {
          const existing = await this.#existingRule(items[k]!);
          results.set(
            k,
            existing ??
              new ItemFailure(
                new RucioError(
                  `Rucio reports a duplicate rule on ${didKey(items[k]!.did)} but none matches`,
                  'retryable',
                  'DuplicateRule',
                ),
              ),
          );
          todo = todo.filter((i) => i !== k);
          continue;
        }
        // Many DIDs already have their rule (a repeated batch): look them all up, then add the others.
        const found = await mapLimit(todo, this.#lookupConcurrency, (i) => this.#existingRule(items[i]!));
        const left: number[] = [];
        todo.forEach((i, j) => {
          const existing = found[j];
          if (existing) results.set(i, existing);
          else left.push(i);
        });
        if (left.length === todo.length) throw err;
        todo = left;
        continue;
      }
      if (ids.length !== todo.length) {
        throw new RucioError(
          `Rucio created rules for ${todo.length} DIDs but returned ${ids.length} ids`,
          'retryable',
          'InvalidResponse',
        );
      }
      todo.forEach((i, j) => results.set(i, { id: ids[j]!, created: true }));
      todo = [];
    }
    return items.map((_, i) => results.get(i)!);
  }

  /** The existing rule matching `it` (same account, expression and copies, as `ensureRule`), if any. */
  async #existingRule(it: RuleItem): Promise<{ id: string; created: false } | undefined> {
    for await (const r of listDidRules(this.#c, it.did)) {
      if (r.account === it.account && r.rse_expression === it.rule.rseExpression && r.copies === it.rule.copies)
        return { id: r.id, created: false };
    }
    return undefined;
  }
}

/** The file with its adler32 as Rucio compares it (a malformed one is the caller's permanent error). */
function withAdler32(file: NewReplica): NewReplica & { adler32: string } {
  return { ...file, adler32: normalizeAdler32(file.adler32) };
}

function files(items: ReplicaItem[]): NewReplica[] {
  return items.map((it) => it.file);
}

async function listedByDid(c: RucioClient, items: ReplicaItem[]): Promise<Map<string, Replica>> {
  const found = new Map<string, Replica>();
  for await (const r of listReplicas(c, files(items))) found.set(didKey(r), r);
  return found;
}

function didKey(d: Did): string {
  return `${d.scope}:${d.name}`;
}

function ruleKey(rule: NewRule, account: string): string {
  return JSON.stringify([
    account,
    rule.copies,
    rule.rseExpression,
    rule.lifetime ?? null,
    rule.grouping ?? 'DATASET',
    rule.activity ?? null,
    rule.comment ?? null,
    rule.purgeReplicas ?? false,
    rule.asynchronous ?? false,
    rule.sourceReplicaExpression ?? null,
  ]);
}

/** Refusals that concern the RSE, the same for every file of a call: not worth a per-file retry. */
const RSE_REFUSALS = ['RSENotFound', 'RSEWriteBlocked', 'RSEOperationNotSupported'];

function hasClass(err: unknown, classes: string[]): boolean {
  return err instanceof RucioError && classes.includes(err.exceptionClass);
}

const NAME_CHAR = /[A-Za-z0-9._\-/]/;

/** Whether `message` names `did` as `scope:name` (not merely a longer name that starts the same). */
export function messageNamesDid(message: string, did: Did): boolean {
  const needle = didKey(did);
  for (let at = message.indexOf(needle); at >= 0; at = message.indexOf(needle, at + 1)) {
    const before = message[at - 1];
    const after = message[at + needle.length];
    const next = message[at + needle.length + 1];
    if (before !== undefined && NAME_CHAR.test(before)) continue;
    // A sentence's full stop after the name is not part of it.
    if (after === undefined || !NAME_CHAR.test(after) || (after === '.' && (next === undefined || /\s/.test(next))))
      return true;
  }
  return false;
}

/** The index of the one DID a Rucio error message names (the longest, when one name extends another). */
function blameNamed(err: unknown, dids: Did[]): number | undefined {
  if (!(err instanceof RucioError)) return undefined;
  let best: number | undefined;
  dids.forEach((d, i) => {
    if (messageNamesDid(err.message, d) && (best === undefined || didKey(d).length > didKey(dids[best]!).length))
      best = i;
  });
  return best;
}

/** `scope:name` from a DuplicateRule message carrying PostgreSQL's `DETAIL: Key (...)=(scope, name, ...)`. */
function duplicateKey(message: string): string | undefined {
  const m = /Key \(scope, name,[^)]*\)=\(([^,()]+), ([^,()]+),/.exec(message);
  return m ? `${m[1]!.trim()}:${m[2]!.trim()}` : undefined;
}

function onRse(r: Replica, rse: string): boolean {
  return r.rses[rse] !== undefined || r.states?.[rse] !== undefined;
}

function sameFileError(r: Replica, f: NewReplica & { adler32: string }): RucioError | undefined {
  const adler = r.adler32 ? normalizeAdler32(r.adler32) : r.adler32;
  const md5Differs = !!f.md5 && !!r.md5 && f.md5.toLowerCase() !== r.md5.toLowerCase();
  if (r.bytes === f.bytes && adler === f.adler32 && !md5Differs) return undefined;
  return new RucioError(
    `${r.scope}:${r.name} is already registered with ${r.bytes} bytes adler32 ${r.adler32}` +
      `${md5Differs ? ` md5 ${r.md5}` : ''}, not ${f.bytes} bytes adler32 ${f.adler32}` +
      `${md5Differs ? ` md5 ${f.md5}` : ''}: a different file has this name. Rename it or investigate the existing one.`,
    'permanent',
    'ChecksumMismatch',
  );
}

function mismatch(key: string, a: NewReplica, b: NewReplica, what: string): RucioError {
  return new RucioError(
    `${key} ${what} with ${a.bytes} bytes adler32 ${a.adler32}, not ${b.bytes} bytes adler32 ${b.adler32}: ` +
      'a different file has this name. Rename it or investigate the existing one.',
    'permanent',
    'ChecksumMismatch',
  );
}

function groupBy<T>(xs: T[], key: (x: T) => string): number[][] {
  const groups = new Map<string, number[]>();
  xs.forEach((x, i) => {
    const k = key(x);
    const g = groups.get(k);
    if (g) g.push(i);
    else groups.set(k, [i]);
  });
  return [...groups.values()];
}

async function mapLimit<T, U>(xs: T[], limit: number, f: (x: T) => Promise<U>): Promise<U[]> {
  const out: U[] = new Array<U>(xs.length);
  let next = 0;
  const worker = async () => {
    while (next < xs.length) {
      const i = next++;
      out[i] = await f(xs[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, xs.length) }, worker));
  return out;
}
