import path from 'node:path';
import type { CompletenessRules, WaitReason } from '../policy/completeness.js';
import type { NamespaceOptions } from '../policy/namespace.js';
import type { MetaValue } from '../policy/values.js';
import type { BatchStatus, FileTemplate, ManifestRef } from './batch-input.js';

/**
 * What a schedule's action runs: scan one watched directory, take what is new and complete, ingest it as a
 * batch. Everything the CLI would plan from its options, fixed when the schedule is created.
 */
export interface ScanInput {
  schedule: string;
  /** Absolute path of the watched directory, the same on every worker's host. */
  directory: string;
  namespace: NamespaceOptions;
  metadata: Record<string, MetaValue>;
  /** Sidecar suffixes: metadata, not data. */
  excludeSuffixes: string[];
  completeness: CompletenessRules;
  /** The directory is an origin RSE's storage, served at this URL: files are its replicas (MAGIC's buffer). */
  origin?: { rse: string; url: string };
  template: FileTemplate;
  taskQueue: string;
  concurrency: number;
  pageSize: number;
  /** rucio-ingest's state directory (shared by the workers): the schedule's ledger, its batches' manifests. */
  stateDir: string;
}

export interface ScanPlan {
  batchId: string;
  /** Absent when nothing new is complete. */
  manifest?: ManifestRef;
  description: string;
  waiting: Partial<Record<WaitReason, number>>;
  /** Files taken by earlier scans, passed over. */
  seen: number;
  /** Ledger entries whose file is gone (deleted at origin) or changed. */
  dropped: number;
}

export interface ScanResult {
  batchId?: string;
  files: number;
  waiting: Partial<Record<WaitReason, number>>;
  seen: number;
  /** The batch's final status, when one ran. */
  batch?: BatchStatus;
}

export function scanWorkflowIdOf(schedule: string): string {
  return `scan/${schedule}`;
}

export function ledgerPathsOf(input: Pick<ScanInput, 'stateDir' | 'schedule'>): { ledger: string; next: string } {
  const dir = path.join(input.stateDir, 'schedules', input.schedule);
  return { ledger: path.join(dir, 'ledger.jsonl'), next: path.join(dir, 'ledger.next.jsonl') };
}

/**
 * A scan's batch ID: the schedule and the action's time. A schedule names its workflows
 * `scan/<schedule>-<RFC 3339 time>`; a scan started otherwise falls back on its start time.
 */
export function batchIdOfScan(schedule: string, workflowId: string, startedAt: Date): string {
  const m = /-(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$/.exec(workflowId);
  const stamp = m
    ? `${m[1]}${m[2]}${m[3]}-${m[4]}${m[5]}${m[6]}`
    : startedAt.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${schedule}-${stamp}`;
}
