import { z } from 'zod';
import { didSchema, ingestInputSchema, sourceSchema, type IngestInput } from './ingest-input.js';

/**
 * A batch: many files through the per-file lifecycle, fed by the batch workflow through a bounded window.
 * The file list never enters a workflow input: it lives in a manifest file (JSON lines) that the batch pages
 * through by byte offset, so a million files cost one page of history at a time.
 */

/** What every file of a batch shares: the lifecycle input without the per-file fields. */
export const fileTemplateSchema = ingestInputSchema.omit({
  source: true,
  did: true,
  dataset: true,
  containers: true,
  metadata: true,
  refused: true,
});
export type FileTemplate = z.infer<typeof fileTemplateSchema>;

/** One line of a batch manifest: a file as planned by the CLI (names mapped, sizes known). */
export const manifestLineSchema = z.union([
  z.object({
    source: sourceSchema,
    did: didSchema,
    dataset: didSchema,
    containers: z.array(didSchema).default([]),
    metadata: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
    /** Size seen when the batch was planned (0 when unknown): the static summary and the ETA. */
    bytes: z.number().int().nonnegative().default(0),
    /** Refused while planning (e.g. a symlink leading out of the ingested directory): fails with this reason. */
    refused: z.object({ code: z.string(), message: z.string() }).optional(),
    trigger: z.string().optional(),
  }),
  /** A retry manifest: the exact lifecycle input of a failed run, started again as it was. */
  z.object({ input: ingestInputSchema, bytes: z.number().int().nonnegative().default(0) }),
]);
export type ManifestLine = z.infer<typeof manifestLineSchema>;

export interface ManifestRef {
  /** Absolute path, readable by every worker (a shared file system when workers run on several hosts). */
  path: string;
  files: number;
  bytes: number;
  /** Size and modification time when planned: a manifest changed under a running batch is refused. */
  size: number;
  mtimeMs: number;
}

export interface BatchInput {
  batchId: string;
  manifest: ManifestRef;
  template: FileTemplate;
  /** Task queue of the file workflows (the batch's own by default). */
  taskQueue: string;
  /** Files in flight at once. */
  concurrency: number;
  /** Manifest lines read per page (≤ 500, ~300 KiB): one page is the most of the file list a run's history holds. */
  pageSize: number;
  /** One line for humans (the Web UI's summary of the batch). */
  description: string;
  /** Carried over by continue-as-new, and into a retry. */
  state?: BatchState;
}

export interface InFlight {
  did: string;
  bytes: number;
  /** Started by another batch or `rucio-ingest file`: its end is polled, it will not report to this batch. */
  attached?: boolean;
  /** Workflow time (ms) it was started or attached. */
  since: number;
}

export interface BatchCounts {
  /** Files taken from the manifest (started, attached or found done). */
  taken: number;
  done: number;
  /** Of `done`: completed before this batch (another batch or command ingested them). */
  alreadyDone: number;
  failed: number;
  cancelled: number;
}

export interface BatchState {
  /** Byte offset of the next manifest line to read. */
  offset: number;
  eof: boolean;
  /** Which manifest: the planned one, or a retry manifest (its line count). */
  manifest: ManifestRef;
  counts: BatchCounts;
  bytesDone: number;
  /** Failures by reason (the IngestProblem code). */
  failures: Record<string, number>;
  inFlight: Record<string, InFlight>;
  /** Workflow time (ms) the batch started. */
  startedAt: number;
  /** Runs of the batch workflow so far (continue-as-new), this one included. */
  runs: number;
  /** Files of earlier manifests (a retry's predecessors), for totals. */
  filesBefore: number;
  bytesBefore: number;
  /** ISO time of the latest retry: failed runs before it were retried. */
  retriedAt?: string;
  retries: number;
}

/** What a file workflow tells its batch when it ends. */
export interface FileReport {
  workflowId: string;
  outcome: 'done' | 'failed' | 'cancelled';
  bytes: number;
  problem?: string;
}

/** The batch's answer to the `status` query and its result. */
export interface BatchStatus {
  batchId: string;
  state: 'running' | 'cancelling' | 'done' | 'cancelled';
  total: { files: number; bytes: number };
  counts: BatchCounts & { inFlight: number; queued: number };
  bytesDone: number;
  failures: Record<string, number>;
  startedAt: string;
  /** Seconds since the batch started (workflow time). */
  elapsedSeconds: number;
  runs: number;
  retries: number;
  retriedAt?: string;
  events: number;
}

export function batchWorkflowId(batchId: string): string {
  return `batch/${batchId}`;
}

/**
 * Files a batch keeps in flight unless told (`--concurrency`). Files beyond the workers' free activity slots
 * wait in Temporal's task queue and add nothing but its work: 100 (one worker has 64 slots) ran at least as
 * fast as 200 on the sandbox, and no upload was lost on dispatch (README, Performance, 2026-12-07). Sites
 * with more workers raise it.
 */
export const defaultConcurrency = 100;

export const batchIdPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** A file's lifecycle input from its manifest line and the batch's template. */
export function fileInputOf(line: ManifestLine, template: FileTemplate, batchId: string): IngestInput {
  if ('input' in line) return { ...line.input, batchId };
  return {
    ...template,
    source: line.source,
    did: line.did,
    dataset: line.dataset,
    containers: line.containers,
    metadata: line.metadata,
    refused: line.refused,
    ...(line.trigger ? { trigger: line.trigger } : {}),
    batchId,
  };
}
