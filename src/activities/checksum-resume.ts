import fs from 'node:fs/promises';
import type { Source } from '../shared/ingest-input.js';
import type { ChecksumCheckpoint } from '../storage/checksum.js';
import type { Checksums } from '../storage/types.js';

/**
 * Local sources at least this big checksum in a resumable way: a retried inspection (killed worker,
 * heartbeat timeout) carries on from the last heartbeat instead of byte 0. Smaller files are re-read:
 * resumable md5 is slower (WebAssembly) and they take seconds anyway.
 */
export const resumableChecksumMinBytes = 256 * 1024 * 1024;

/** What an inspection heartbeat carries: the file it is about, and how far it got. */
export interface InspectCheckpoint {
  path: string;
  size: number;
  mtimeMs: number;
  md5: boolean;
  state: ChecksumCheckpoint;
}

/**
 * The checkpoint a previous attempt left in its heartbeat details, if it is for this very file, unchanged
 * since (same size and modification time), with the same checksums asked; otherwise start from 0.
 */
export function usableCheckpoint(
  details: unknown,
  file: { path: string; size: number; mtimeMs: number; md5: boolean },
): ChecksumCheckpoint | undefined {
  const cp = (details as { checkpoint?: Partial<InspectCheckpoint> } | undefined)?.checkpoint;
  if (!cp || !cp.state) return undefined;
  const same = sameFile(cp, file) && cp.md5 === file.md5;
  const s = cp.state;
  const sane =
    typeof s.bytes === 'number' &&
    s.bytes > 0 &&
    s.bytes <= file.size &&
    typeof s.adler32 === 'string' &&
    (file.md5 ? typeof s.md5 === 'string' : s.md5 === undefined);
  return same && sane ? s : undefined;
}

/** What identifies a local source's content between attempts: its size and modification time. */
export interface SourceIdentity {
  path: string;
  size: number;
  mtimeMs: number;
}

function sameFile(a: Partial<SourceIdentity>, b: SourceIdentity): boolean {
  return a.path === b.path && a.size === b.size && a.mtimeMs === b.mtimeMs;
}

/** The source's size and checksums, and with a sidecar or schema its final metadata. */
export type Inspected = Checksums & { metadata?: Record<string, string | number | boolean> };

/** A finished inspection as an upload's heartbeat carries it, with the file it was made of. */
export interface FinishedInspection {
  identity?: SourceIdentity;
  result: Inspected;
}

/**
 * A local source's identity now; none for a source on an RSE, whose inspection is redone (its bytes are
 * read from storage anyway) and for a file that cannot be read (inspection says why).
 */
export async function sourceIdentity(source: Source): Promise<SourceIdentity | undefined> {
  if (source.kind !== 'local') return undefined;
  const st = await fs.stat(source.path).catch(() => undefined);
  return st?.isFile() ? { path: source.path, size: st.size, mtimeMs: st.mtimeMs } : undefined;
}

/**
 * The inspection a previous attempt of the same upload finished, if it was of this very file unchanged
 * since (same path, size and modification time); otherwise the file is inspected again.
 */
export function usableInspection(details: unknown, now: SourceIdentity | undefined): Inspected | undefined {
  const prev = (details as { inspected?: Partial<FinishedInspection> } | undefined)?.inspected;
  if (!now || !prev?.identity || !prev.result) return undefined;
  const r = prev.result;
  const sane = typeof r.adler32 === 'string' && r.bytes === now.size;
  return sameFile(prev.identity, now) && sane ? r : undefined;
}
