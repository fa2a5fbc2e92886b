import type { ChecksumCheckpoint } from '../storage/checksum.js';

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
  const same = cp.path === file.path && cp.size === file.size && cp.mtimeMs === file.mtimeMs && cp.md5 === file.md5;
  const s = cp.state;
  const sane =
    typeof s.bytes === 'number' &&
    s.bytes > 0 &&
    s.bytes <= file.size &&
    typeof s.adler32 === 'string' &&
    (file.md5 ? typeof s.md5 === 'string' : s.md5 === undefined);
  return same && sane ? s : undefined;
}
