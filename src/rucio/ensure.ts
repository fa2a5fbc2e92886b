import type { RucioClient } from './client.js';
import { addCollection, attach, getDid, type CollectionType, type Did } from './dids.js';
import { RucioError } from './errors.js';
import { addReplicas, listReplicas, normalizeAdler32, type NewReplica, type Replica } from './replicas.js';
import { addRule, listDidRules, type NewRule } from './rules.js';

/**
 * Idempotent building blocks of the lifecycle. Each can be retried after a timeout whose request did
 * reach Rucio: the second call finds the object and accepts it when it matches, or fails loudly.
 */

/** Create a dataset/container, or accept an existing one of the same type. Returns true if created. */
export async function ensureCollection(
  c: RucioClient,
  did: Did,
  type: CollectionType,
  meta?: Record<string, unknown>,
): Promise<boolean> {
  try {
    await addCollection(c, did, type, { meta });
    return true;
  } catch (err) {
    if (!(err instanceof RucioError && err.alreadyDone)) throw err;
    const existing = await getDid(c, did);
    if (existing.type !== type) {
      throw new RucioError(
        `${did.scope}:${did.name} exists as a ${existing.type}, not a ${type}`,
        'permanent',
        'DataIdentifierTypeMismatch',
      );
    }
    return false;
  }
}

/** Ensure a dataset and its container chain (outermost first), each attached to its parent. */
export async function ensureDataset(c: RucioClient, dataset: Did, containers: Did[] = []): Promise<void> {
  const chain = [
    ...containers.map((d) => ({ did: d, type: 'CONTAINER' as const })),
    { did: dataset, type: 'DATASET' as const },
  ];
  for (const link of chain) await ensureCollection(c, link.did, link.type);
  const attachments = chain.slice(1).map((child, i) => ({ to: chain[i]!.did, dids: [child.did] }));
  if (attachments.length > 0) await attach(c, attachments);
}

/** Add a rule, or on DuplicateRule return the id of the existing identical rule. */
export async function ensureRule(
  c: RucioClient,
  did: Did,
  rule: NewRule,
  account: string,
): Promise<{ id: string; created: boolean }> {
  try {
    const [id] = await addRule(c, [did], rule, account);
    if (!id) throw new RucioError('Rucio created a rule but returned no id', 'retryable', 'InvalidResponse');
    return { id, created: true };
  } catch (err) {
    if (!(err instanceof RucioError && err.exceptionClass === 'DuplicateRule')) throw err;
    for await (const r of listDidRules(c, did)) {
      if (r.account === account && r.rse_expression === rule.rseExpression && r.copies === rule.copies)
        return { id: r.id, created: false };
    }
    throw new RucioError(
      `Rucio reports a duplicate rule on ${did.scope}:${did.name} but none matches`,
      'retryable',
      'DuplicateRule',
    );
  }
}

/**
 * Register replicas on `rse`, idempotently and loudly:
 * 1. list what Rucio already holds for these names; a file DID with other bytes, adler32 (or md5) is a
 *    permanent `ChecksumMismatch` *before* anything is written (Rucio itself would silently keep the
 *    old DID and add a replica row with the new checksum);
 * 2. add only the replicas missing on `rse` (none: done, one REST call in all);
 * 3. read those back and compare again (another writer may have raced us).
 * REST calls for up to 1000 files: 1 when all are registered already, 3 otherwise. A caller that has just
 * listed these files passes what it read as `known` and saves step 1's call (the read-back still runs).
 */
export async function registerReplicas(
  c: RucioClient,
  rse: string,
  files: NewReplica[],
  opts: { known?: Replica[] } = {},
): Promise<Replica[]> {
  const normalized = files.map((f) => ({ ...f, adler32: normalizeAdler32(f.adler32) }));
  const wanted = new Map(normalized.map((f) => [didKey(f), f]));
  if (wanted.size !== normalized.length) {
    throw new RucioError(`registerReplicas: the same DID appears twice in one call`, 'permanent', 'InvalidObject');
  }
  const before = new Map<string, Replica>();
  for await (const r of opts.known ?? listReplicas(c, normalized)) {
    const f = wanted.get(didKey(r));
    if (!f) continue;
    assertSameFile(r, f);
    before.set(didKey(r), r);
  }
  const missing = normalized.filter((f) => !onRse(before.get(didKey(f)), rse));
  if (missing.length === 0) return normalized.map((f) => before.get(didKey(f))!);

  await addReplicas(c, rse, missing);
  const after = new Map<string, Replica>();
  for await (const r of listReplicas(c, missing)) {
    const f = wanted.get(didKey(r));
    if (!f) continue;
    assertSameFile(r, f);
    if (!onRse(r, rse)) {
      throw new RucioError(
        `${r.scope}:${r.name} has no replica on ${rse} after registration`,
        'retryable',
        'ReplicaNotFound',
      );
    }
    after.set(didKey(r), r);
  }
  if (after.size !== missing.length) {
    throw new RucioError(
      `registered ${missing.length} replicas on ${rse} but Rucio lists ${after.size} of them`,
      'retryable',
      'ReplicaNotFound',
    );
  }
  return normalized.map((f) => after.get(didKey(f)) ?? before.get(didKey(f))!);
}

function didKey(d: Did): string {
  return `${d.scope}:${d.name}`;
}

function onRse(r: Replica | undefined, rse: string): boolean {
  return !!r && (r.rses[rse] !== undefined || r.states?.[rse] !== undefined);
}

function assertSameFile(r: Replica, f: NewReplica): void {
  const adler = r.adler32 ? normalizeAdler32(r.adler32) : r.adler32;
  const md5Differs = !!f.md5 && !!r.md5 && f.md5.toLowerCase() !== r.md5.toLowerCase();
  if (r.bytes !== f.bytes || adler !== f.adler32 || md5Differs) {
    throw new RucioError(
      `${r.scope}:${r.name} is already registered with ${r.bytes} bytes adler32 ${r.adler32}` +
        `${md5Differs ? ` md5 ${r.md5}` : ''}, not ${f.bytes} bytes adler32 ${f.adler32}` +
        `${md5Differs ? ` md5 ${f.md5}` : ''}: a different file has this name. Rename it or investigate the existing one.`,
      'permanent',
      'ChecksumMismatch',
    );
  }
}
