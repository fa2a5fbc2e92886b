import { z } from 'zod';
import { didNamePattern } from '../rucio/dids.js';

/**
 * What one file's lifecycle needs. Validated here, before a workflow starts — never inside the
 * workflow (zod does not belong in the deterministic sandbox). Holds no secrets: credentials come
 * from the worker's own Rucio configuration.
 */
const didName = z
  .string()
  .min(1)
  .max(250)
  .regex(didNamePattern, 'a Rucio DID name uses only letters, digits, / . - _ and starts with a letter, digit or /');
const scope = z
  .string()
  .min(1)
  .max(25)
  .regex(/^[A-Za-z0-9_.-]+$/, 'a Rucio scope uses letters, digits, _ . -');
export const didSchema = z.object({ scope, name: didName });

export const qosTargetSchema = z.object({
  copies: z.number().int().min(1).max(10),
  rseExpression: z.string().min(1),
  /** Rule lifetime in seconds; omitted = no expiry. */
  lifetime: z.number().int().positive().optional(),
  grouping: z.enum(['ALL', 'DATASET', 'NONE']).default('NONE'),
  /** `rucio` mode: how long this target's rule may take to reach OK (seconds); the input's default otherwise. */
  deadlineSeconds: z.number().int().positive().optional(),
});
export type QosTarget = z.infer<typeof qosTargetSchema>;

export const sourceSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('local'), path: z.string().min(1) }),
  /** A replica on an origin RSE (e.g. the non-deterministic ONSITE-BUFFER), by its PFN. */
  z.object({ kind: z.literal('rse'), rse: z.string().min(1), pfn: z.string().min(1) }),
]);
export type Source = z.infer<typeof sourceSchema>;

export const ingestInputSchema = z.object({
  source: sourceSchema,
  did: didSchema,
  dataset: didSchema,
  /** Containers above the dataset, outermost first. */
  containers: z.array(didSchema).default([]),
  metadata: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
  landingRse: z.string().min(1),
  qos: z.array(qosTargetSchema).default([]),
  mode: z.enum(['direct', 'rucio']).default('direct'),
  deleteOrigin: z.boolean().default(false),
  /** A 0-byte file is most often an incomplete write: refused unless allowed. */
  allowEmpty: z.boolean().default(false),
  md5: z.boolean().default(true),
  verify: z
    .object({
      /** Read the replica back when the storage offers no digest. */
      readbackFallback: z.boolean().default(true),
    })
    .default({ readbackFallback: true }),
  /** How long a `rucio`-mode rule may take to reach OK before it is reported stuck (seconds). */
  ruleDeadlineSeconds: z
    .number()
    .int()
    .positive()
    .default(24 * 3600),
  /**
   * A transfer or checksum that reports no progress for this long is abandoned and retried
   * (the seeds' GridFTP transfers hung for 360 s before anyone noticed).
   */
  heartbeatTimeoutSeconds: z.number().int().min(2).max(3600).default(30),
  /** Rucio account that owns the rules (the worker's account when omitted). */
  account: z.string().optional(),
  /**
   * Metadata sidecar: a JSON object read from `<source><suffix>` when the file is inspected and merged over
   * `metadata` (a missing sidecar adds nothing). Read by the worker, so a fixed sidecar counts on a retry.
   */
  metaSidecarSuffix: z.string().min(1).optional(),
  /** JSON Schema the file's final metadata must satisfy before anything of it is uploaded (path on a shared FS). */
  metaSchema: z.object({ path: z.string().min(1), sha256: z.string().length(64) }).optional(),
  /** Refused when the batch was planned (e.g. a symlink out of the ingested directory): fails with this. */
  refused: z.object({ code: z.string(), message: z.string() }).optional(),
  /** A trigger file announcing the source complete (`--trigger-suffix`): removed once the file is done. */
  trigger: z.string().min(1).optional(),
  /** The batch this file belongs to (the RucioBatch search attribute): for messages only. */
  batchId: z.string().optional(),
  /**
   * Workflow ID of the batch that started this file, where it reports its end. Set by the batch when its
   * worker starts the file; a file started as the batch's child (older batches) finds its parent instead.
   */
  reportTo: z.string().optional(),
  /**
   * The lifecycle code this input was started for, set by whoever starts the workflow (`currentFlow`).
   * Inputs without it (started before it existed) replay their recorded `patched()` markers.
   */
  flow: z.number().int().positive().optional(),
});
export type IngestInput = z.infer<typeof ingestInputSchema>;

/**
 * 2: today's steps chosen by the input instead of by `patched()`, and the start names the first step
 * (`upload`). A patch marker costs a file two history events (the marker and the `TemporalChangeVersion`
 * upsert Temporal adds to it), and every upsert is a write to Temporal's visibility store.
 * 3: a landing-only file of a batch that keeps its origin reports its end from its registration's local
 * activity (13 events, one local activity).
 * 4: the upload registers the file too, once its bytes are there: no local activity holds a workflow task
 * while Rucio answers slowly. A landing-only file reports its end from its last workflow task (13 events).
 */
export const currentFlow = 4;

export function parseIngestInput(raw: unknown): IngestInput {
  const r = ingestInputSchema.safeParse(raw);
  if (!r.success) throw new Error(`invalid ingestion request: ${z.prettifyError(r.error)}`);
  return r.data;
}

/** One workflow per file: starting the same file twice finds the same workflow. */
export function workflowIdFor(did: { scope: string; name: string }): string {
  return `ingest/${did.scope}:${did.name}`;
}

export const defaultTaskQueue = 'rucio-ingest';
