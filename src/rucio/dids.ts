import { z } from 'zod';
import type { RucioClient } from './client.js';
import { seg } from './path.js';
import { BULK_CHUNK } from './replicas.js';

export interface Did {
  scope: string;
  name: string;
}

export function didPath(did: Did): string {
  return `/dids/${seg(did.scope)}/${seg(did.name)}`;
}

export type MetadataPlugin = 'DID_COLUMN' | 'JSON' | 'ALL';

/** Set one metadata key. Keys that are not DID columns go to the JSON plugin (PostgreSQL). */
export async function setMetadata(c: RucioClient, did: Did, key: string, value: unknown): Promise<void> {
  await c.send('POST', `${didPath(did)}/meta/${seg(key)}`, { body: { value } });
}

/** Set several metadata keys in one call. */
export async function setMetadataBulk(c: RucioClient, did: Did, meta: Record<string, unknown>): Promise<void> {
  await c.send('POST', `${didPath(did)}/meta`, { body: { meta } });
}

export function getMetadata(
  c: RucioClient,
  did: Did,
  plugin: MetadataPlugin = 'DID_COLUMN',
): Promise<Record<string, unknown>> {
  return c.json('GET', `${didPath(did)}/meta`, z.record(z.string(), z.unknown()), { query: { plugin } });
}

export const didSchema = z.looseObject({
  scope: z.string(),
  name: z.string(),
  type: z.string(),
  account: z.string().optional(),
  bytes: z.number().nullable().optional(),
  adler32: z.string().nullable().optional(),
  md5: z.string().nullable().optional(),
  open: z.boolean().nullable().optional(),
});
export type DidInfo = z.infer<typeof didSchema>;

export type CollectionType = 'DATASET' | 'CONTAINER';

export function getDid(c: RucioClient, did: Did): Promise<DidInfo> {
  return c.json('GET', didPath(did), didSchema);
}

/** Create a dataset or container (raises DataIdentifierAlreadyExists when it exists). */
export async function addCollection(
  c: RucioClient,
  did: Did,
  type: CollectionType,
  opts: { lifetime?: number; meta?: Record<string, unknown> } = {},
): Promise<void> {
  await c.send('POST', didPath(did), { body: { type, lifetime: opts.lifetime, meta: opts.meta } });
}

export const contentSchema = z.looseObject({ scope: z.string(), name: z.string(), type: z.string() });

/** The DIDs directly inside a collection, streamed. */
export function listContent(c: RucioClient, did: Did): AsyncGenerator<z.infer<typeof contentSchema>> {
  return c.ndjson(`${didPath(did)}/dids`, contentSchema);
}

/**
 * Attach DIDs to collections, at most BULK_CHUNK DIDs per call (Rucio's list limit).
 * `ignore_duplicate` makes a retry after a lost answer harmless: what is attached already stays attached.
 */
export async function attach(
  c: RucioClient,
  attachments: Array<{ to: Did; dids: Did[]; rse?: string }>,
): Promise<void> {
  const all = attachments.flatMap((a) => a.dids.map((d) => ({ a, did: pickDid(d) })));
  for (let i = 0; i < all.length; i += BULK_CHUNK) {
    // Consecutive DIDs of one collection travel together, as Rucio's body groups them.
    const batch: Array<{ a: (typeof attachments)[number]; dids: Did[] }> = [];
    for (const { a, did } of all.slice(i, i + BULK_CHUNK)) {
      if (batch.at(-1)?.a === a) batch.at(-1)!.dids.push(did);
      else batch.push({ a, dids: [did] });
    }
    const body = batch.map(({ a, dids }) => ({ scope: a.to.scope, name: a.to.name, rse: a.rse, dids }));
    await c.send('POST', '/dids/attachments', { body: { ignore_duplicate: true, attachments: body } });
  }
}

export function pickDid(d: Did): Did {
  return { scope: d.scope, name: d.name };
}

/** Rucio's DID name rule (generic schema). */
export const didNamePattern = /^[/A-Za-z0-9][/A-Za-z0-9.\-_]*$/;
