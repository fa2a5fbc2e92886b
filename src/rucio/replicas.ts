import { z } from 'zod';
import type { RucioClient } from './client.js';
import { RucioError } from './errors.js';

export interface NewReplica {
  scope: string;
  name: string;
  bytes: number;
  adler32: string;
  md5?: string;
  /** Required on non-deterministic RSEs; derived by Rucio on deterministic ones. */
  pfn?: string;
  meta?: Record<string, unknown>;
}

/** Rucio rejects list calls over 1000 items: send bulk writes in chunks of this size. */
export const BULK_CHUNK = 1000;

/**
 * Adler32 as Rucio stores and compares it: exactly 8 lowercase hex digits, leading zeros kept.
 * Accepts a number or 1-8 hex digits in any case; anything else is a permanent error.
 */
export function normalizeAdler32(value: string | number): string {
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
      throw new RucioError(`not an adler32 value: ${value}`, 'permanent', 'InvalidChecksum');
    }
    return value.toString(16).padStart(8, '0');
  }
  const v = value.trim();
  if (!/^[0-9a-fA-F]{1,8}$/.test(v)) {
    throw new RucioError(`not an adler32 value: "${value}" (want 8 hex digits)`, 'permanent', 'InvalidChecksum');
  }
  return v.toLowerCase().padStart(8, '0');
}

/**
 * Register replicas (and their file DIDs) on `rse`, state available. Rucio silently skips files
 * that already exist, so callers that need certainty read back (see registerReplicas).
 */
export async function addReplicas(c: RucioClient, rse: string, files: NewReplica[]): Promise<void> {
  const normalized = files.map((f) => ({ ...f, adler32: normalizeAdler32(f.adler32) }));
  for (let i = 0; i < normalized.length; i += BULK_CHUNK) {
    await c.send('POST', '/replicas', {
      body: { rse, files: normalized.slice(i, i + BULK_CHUNK), ignore_availability: true },
    });
  }
}

export const replicaSchema = z.looseObject({
  scope: z.string(),
  name: z.string(),
  bytes: z.number().nullable(),
  adler32: z.string().nullable().optional(),
  md5: z.string().nullable().optional(),
  rses: z.record(z.string(), z.array(z.string())),
  states: z.record(z.string(), z.string()).optional(),
  pfns: z.record(z.string(), z.unknown()).optional(),
});
export type Replica = z.infer<typeof replicaSchema>;

/** List replicas of files (any state), streamed, in chunks of 1000 DIDs per call. */
export async function* listReplicas(
  c: RucioClient,
  dids: Array<{ scope: string; name: string }>,
  opts: { schemes?: string[]; allStates?: boolean; rseExpression?: string } = {},
): AsyncGenerator<Replica> {
  for (let i = 0; i < dids.length; i += BULK_CHUNK) {
    yield* c.ndjson('/replicas/list', replicaSchema, {
      method: 'POST',
      body: {
        dids: dids.slice(i, i + BULK_CHUNK).map((d) => ({ scope: d.scope, name: d.name })),
        schemes: opts.schemes,
        all_states: opts.allStates ?? true,
        rse_expression: opts.rseExpression,
        unavailable: true,
        // We read states, not an ordered PFN list. The server's default order (geoip) looks up its GeoIP
        // database for every file, and a server without one tries to download it every time.
        sort: 'random',
      },
    });
  }
}

/** Set replica states (e.g. 'A' available, 'U' unavailable, 'B' bad) on `rse`, in chunks of 1000. */
export async function updateReplicaStates(
  c: RucioClient,
  rse: string,
  files: Array<{ scope: string; name: string; state: 'A' | 'U' | 'B' | 'C' | 'T' }>,
): Promise<void> {
  for (let i = 0; i < files.length; i += BULK_CHUNK) {
    // The server's schema refuses any other key (an `rse` per file is an InvalidObject).
    const chunk = files.slice(i, i + BULK_CHUNK).map((f) => ({ scope: f.scope, name: f.name, state: f.state }));
    await c.send('PUT', '/replicas', { body: { rse, files: chunk } });
  }
}

/** Mark replicas obsolete so the reaper deletes them once no rule locks them (ReplicaIsLocked otherwise). */
export async function declareTombstone(
  c: RucioClient,
  rse: string,
  files: Array<{ scope: string; name: string }>,
): Promise<void> {
  for (let i = 0; i < files.length; i += BULK_CHUNK) {
    await c.send('POST', '/replicas/tombstone', {
      body: { replicas: files.slice(i, i + BULK_CHUNK).map((f) => ({ scope: f.scope, name: f.name, rse })) },
    });
  }
}
