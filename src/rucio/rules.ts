import { z } from 'zod';
import type { RucioClient } from './client.js';
import { didPath, pickDid, type Did } from './dids.js';
import { RucioError } from './errors.js';
import { seg } from './path.js';

export const ruleStates = ['OK', 'REPLICATING', 'STUCK', 'SUSPENDED', 'WAITING_APPROVAL', 'INJECT'] as const;

export const ruleSchema = z.looseObject({
  id: z.string(),
  scope: z.string(),
  name: z.string(),
  account: z.string(),
  rse_expression: z.string(),
  copies: z.number(),
  state: z.string(),
  locks_ok_cnt: z.number().optional(),
  locks_replicating_cnt: z.number().optional(),
  locks_stuck_cnt: z.number().optional(),
  expires_at: z.string().nullable().optional(),
  error: z.string().nullable().optional(),
  grouping: z.string().optional(),
  purge_replicas: z.boolean().optional(),
});
export type Rule = z.infer<typeof ruleSchema>;

export interface NewRule {
  copies: number;
  rseExpression: string;
  /** Seconds; omitted = forever. */
  lifetime?: number;
  grouping?: 'ALL' | 'DATASET' | 'NONE';
  activity?: string;
  comment?: string;
  purgeReplicas?: boolean;
  asynchronous?: boolean;
  sourceReplicaExpression?: string;
}

/** Add one rule on `dids`; returns the new rule ids (raises DuplicateRule when it exists). */
export function addRule(c: RucioClient, dids: Did[], rule: NewRule, account: string): Promise<string[]> {
  return c.json('POST', '/rules/', z.array(z.string()), {
    body: {
      dids: dids.map(pickDid),
      account,
      copies: rule.copies,
      rse_expression: rule.rseExpression,
      lifetime: rule.lifetime ?? null,
      grouping: rule.grouping ?? 'DATASET',
      activity: rule.activity,
      comment: rule.comment,
      purge_replicas: rule.purgeReplicas ?? false,
      asynchronous: rule.asynchronous ?? false,
      source_replica_expression: rule.sourceReplicaExpression,
    },
  });
}

/** Rule ids are 32 hex digits (a UUID without dashes); Rucio answers a malformed one with a 500. */
function ruleIdPath(id: string): string {
  const hex = id.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) {
    throw new RucioError(`not a Rucio rule id: "${id}" (want 32 hex digits)`, 'permanent', 'InvalidObject');
  }
  return `/rules/${seg(hex.toLowerCase())}`;
}

export async function getRule(c: RucioClient, id: string): Promise<Rule> {
  return c.json('GET', ruleIdPath(id), ruleSchema);
}

/** Rules on a DID, streamed. */
export function listDidRules(c: RucioClient, did: Did): AsyncGenerator<Rule> {
  return c.ndjson(`${didPath(did)}/rules`, ruleSchema);
}

export async function updateRule(c: RucioClient, id: string, options: Record<string, unknown>): Promise<void> {
  await c.send('PUT', ruleIdPath(id), { body: { options } });
}

/** Delete a rule. Rucio requires a JSON body here; `purgeReplicas` lets the reaper remove the data. */
export async function deleteRule(c: RucioClient, id: string, purgeReplicas = false): Promise<void> {
  await c.send('DELETE', ruleIdPath(id), { body: { purge_replicas: purgeReplicas } });
}

export const lockSchema = z.looseObject({
  rse: z.string().optional(),
  rse_id: z.string().optional(),
  state: z.string(),
  scope: z.string().optional(),
  name: z.string().optional(),
});

/** The locks of a rule: which RSE holds each required replica and whether it is OK. */
export async function listRuleLocks(c: RucioClient, id: string): Promise<Array<{ rse: string; state: string }>> {
  const out: Array<{ rse: string; state: string }> = [];
  for await (const l of c.ndjson(`${ruleIdPath(id)}/locks`, lockSchema))
    out.push({ rse: l.rse ?? l.rse_id ?? '?', state: l.state });
  return out;
}
