import type { RucioClient } from './client.js';
import { RucioError } from './errors.js';
import { buildPfn, hashLfnPath } from './lfn2pfn.js';
import { getRse, lfns2pfns, listRses, rseAttributes, type RseInfo, type RseProtocol } from './rses.js';

type Operation = 'read' | 'write' | 'delete';

interface Entry<T> {
  value: Promise<T>;
  until: number;
}

export interface RseCacheOptions {
  /** How long RSE descriptions and attributes are trusted (default 5 min). */
  ttlMs?: number;
  /** How long an RSE expression's resolution is trusted (default 1 min). */
  expressionTtlMs?: number;
  now?: () => number;
}

/**
 * RSE facts that change rarely (protocols, attributes, expression resolutions), kept for minutes so that
 * a file does not cost a dozen REST calls for them, and PFNs on deterministic RSEs computed locally with
 * Rucio's `hash` algorithm — once confirmed equal to Rucio's own `lfns2pfns` answer for that RSE, scheme
 * and operation. An RSE whose server-side algorithm differs is always asked (never guessed).
 */
export class RseCache {
  readonly #rucio: RucioClient;
  readonly #ttl: number;
  readonly #exprTtl: number;
  readonly #now: () => number;
  readonly #info = new Map<string, Entry<RseInfo>>();
  readonly #attrs = new Map<string, Entry<Record<string, unknown>>>();
  readonly #exprs = new Map<string, Entry<string[]>>();
  /** `rse scheme operation` → true when local lfn2pfn matched Rucio, false when it did not. */
  readonly #confirmed = new Map<string, { local: boolean; until: number }>();

  constructor(rucio: RucioClient, opts: RseCacheOptions = {}) {
    this.#rucio = rucio;
    this.#ttl = opts.ttlMs ?? 5 * 60_000;
    this.#exprTtl = opts.expressionTtlMs ?? 60_000;
    this.#now = opts.now ?? Date.now;
  }

  info(rse: string): Promise<RseInfo> {
    return this.#cached(this.#info, rse, this.#ttl, () => getRse(this.#rucio, rse));
  }

  attributes(rse: string): Promise<Record<string, unknown>> {
    return this.#cached(this.#attrs, rse, this.#ttl, () => rseAttributes(this.#rucio, rse));
  }

  /** The RSE names an expression resolves to (sorted). */
  resolve(expression: string): Promise<string[]> {
    return this.#cached(this.#exprs, expression, this.#exprTtl, () => listRses(this.#rucio, expression));
  }

  /** The PFN of a DID on an RSE for `scheme` and `operation`, as Rucio's `lfns2pfns` would give it. */
  async pfn(rse: string, did: { scope: string; name: string }, scheme: string, operation: Operation): Promise<string> {
    const info = await this.info(rse);
    const protocol = info.deterministic === false ? undefined : bestProtocol(info.protocols, scheme, operation);
    const algorithm = info.lfn2pfn_algorithm;
    if (!protocol || (algorithm && algorithm !== 'hash')) return this.#askRucio(rse, did, scheme, operation);
    const local = buildPfn(protocol, hashLfnPath(did.scope, did.name));
    const key = `${rse} ${scheme} ${operation}`;
    const known = this.#confirmed.get(key);
    if (known && known.until > this.#now()) return known.local ? local : this.#askRucio(rse, did, scheme, operation);
    const remote = await this.#askRucio(rse, did, scheme, operation);
    this.#confirmed.set(key, { local: remote === local, until: this.#now() + this.#ttl });
    return remote;
  }

  async #askRucio(rse: string, did: { scope: string; name: string }, scheme: string, operation: Operation) {
    const map = await lfns2pfns(this.#rucio, rse, [did], { scheme, operation });
    const pfn = map[`${did.scope}:${did.name}`];
    if (!pfn) {
      throw new RucioError(`Rucio gave no ${scheme} PFN for ${did.scope}:${did.name} on ${rse}`, 'permanent', 'NoPfn');
    }
    return pfn;
  }

  #cached<T>(map: Map<string, Entry<T>>, key: string, ttl: number, load: () => Promise<T>): Promise<T> {
    const hit = map.get(key);
    if (hit && hit.until > this.#now()) return hit.value;
    const value = load();
    map.set(key, { value, until: this.#now() + ttl });
    // Failures are not remembered: the next call asks again.
    value.catch(() => {
      if (map.get(key)?.value === value) map.delete(key);
    });
    return value;
  }
}

/** The protocol Rucio would pick for a scheme and operation: the best (lowest, non-zero) WAN priority. */
function bestProtocol(protocols: RseProtocol[], scheme: string, operation: Operation): RseProtocol | undefined {
  let best: { p: RseProtocol; prio: number } | undefined;
  for (const p of protocols) {
    if (p.scheme !== scheme) continue;
    const prio = p.domains.wan?.[operation];
    if (typeof prio !== 'number' || prio <= 0) continue;
    if (!best || prio < best.prio) best = { p, prio };
  }
  return best?.p;
}
