import { z } from 'zod';
import { RucioError } from './errors.js';
import type { RucioClient } from './client.js';
import { ignoreAlreadyDone } from './idempotent.js';
import { seg } from './path.js';

export const rseSchema = z.looseObject({
  rse: z.string(),
  id: z.string().optional(),
  deterministic: z.boolean().optional(),
  rse_type: z.string().optional(),
  availability_write: z.boolean().optional(),
});

const operations = z.looseObject({
  read: z.number().nullable().optional(),
  write: z.number().nullable().optional(),
  delete: z.number().nullable().optional(),
  third_party_copy_read: z.number().nullable().optional(),
  third_party_copy_write: z.number().nullable().optional(),
});

export const protocolSchema = z.looseObject({
  scheme: z.string(),
  hostname: z.string(),
  port: z.number(),
  prefix: z.string(),
  impl: z.string(),
  domains: z.looseObject({ lan: operations.optional(), wan: operations.optional() }),
  extended_attributes: z.unknown().optional(),
});
export type RseProtocol = z.infer<typeof protocolSchema>;

export const rseInfoSchema = rseSchema.extend({
  protocols: z.array(protocolSchema),
  lfn2pfn_algorithm: z.string().nullable().optional(),
  volatile: z.boolean().optional(),
});
export type RseInfo = z.infer<typeof rseInfoSchema>;

export interface NewRse {
  deterministic: boolean;
  volatile?: boolean;
  rse_type?: 'DISK' | 'TAPE';
}

/** Names of the RSEs an expression resolves to. */
export async function listRses(c: RucioClient, expression?: string): Promise<string[]> {
  const out: string[] = [];
  for await (const r of c.ndjson('/rses/', rseSchema, { query: { expression } })) out.push(r.rse);
  return out.sort();
}

export function getRse(c: RucioClient, rse: string): Promise<RseInfo> {
  return c.json('GET', `/rses/${seg(rse)}`, rseInfoSchema);
}

export function rseAttributes(c: RucioClient, rse: string): Promise<Record<string, unknown>> {
  return c.json('GET', `/rses/${seg(rse)}/attr/`, z.record(z.string(), z.unknown()));
}

/** The RSE's protocols (`GET /rses/{rse}/protocols`), highest priority first as Rucio lists them. */
export function rseProtocols(c: RucioClient, rse: string): Promise<RseProtocol[]> {
  return c.json('GET', `/rses/${seg(rse)}/protocols`, z.array(protocolSchema));
}

/** Rucio's own lfn→pfn translation (`GET /rses/{rse}/lfns2pfns`). */
export function lfns2pfns(
  c: RucioClient,
  rse: string,
  lfns: Array<{ scope: string; name: string }>,
  opts: { scheme?: string; operation?: 'read' | 'write' | 'delete'; domain?: 'wan' | 'lan' } = {},
): Promise<Record<string, string>> {
  // The route reads the repeated query parameter `lfn` (not `lfns`).
  return c.json('GET', `/rses/${seg(rse)}/lfns2pfns`, z.record(z.string(), z.string()), {
    query: {
      lfn: lfns.map((l) => `${l.scope}:${l.name}`),
      scheme: opts.scheme,
      operation: opts.operation,
      domain: opts.domain,
    },
  });
}

export function addRse(c: RucioClient, rse: string, params: NewRse): Promise<boolean> {
  return ignoreAlreadyDone(
    c.send('POST', `/rses/${seg(rse)}`, { body: { rse_type: 'DISK', volatile: false, ...params } }),
  );
}

export async function setRseAttribute(
  c: RucioClient,
  rse: string,
  key: string,
  value: string | boolean | number,
): Promise<void> {
  await ignoreAlreadyDone(c.send('POST', `/rses/${seg(rse)}/attr/${seg(key)}`, { body: { value } }));
}

/** Remove an attribute; removing an absent one is success. */
export async function deleteRseAttribute(c: RucioClient, rse: string, key: string): Promise<void> {
  try {
    await c.send('DELETE', `/rses/${seg(rse)}/attr/${seg(key)}`);
  } catch (err) {
    if (!(err instanceof RucioError && err.kind === 'permanent' && err.status === 404)) throw err;
  }
}

export function addProtocol(c: RucioClient, rse: string, protocol: RseProtocol): Promise<boolean> {
  return ignoreAlreadyDone(c.send('POST', `/rses/${seg(rse)}/protocols/${seg(protocol.scheme)}`, { body: protocol }));
}

/** Remove every protocol of `scheme` from an RSE; removing an absent one is success. */
export async function deleteProtocol(c: RucioClient, rse: string, scheme: string): Promise<void> {
  try {
    await c.send('DELETE', `/rses/${seg(rse)}/protocols/${seg(scheme)}`);
  } catch (err) {
    if (!(err instanceof RucioError && err.exceptionClass === 'RSEProtocolNotSupported')) throw err;
  }
}

/** Set the distance from `source` to `destination` (creates or updates). */
export async function setDistance(
  c: RucioClient,
  source: string,
  destination: string,
  distance: number,
): Promise<void> {
  const path = `/rses/${seg(source)}/distances/${seg(destination)}`;
  const created = await ignoreAlreadyDone(c.send('POST', path, { body: { distance } }));
  if (!created) await c.send('PUT', path, { body: { distance } });
}
