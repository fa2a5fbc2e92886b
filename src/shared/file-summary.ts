import type { IngestInput } from './ingest-input.js';

/** Bytes for people: 18.0 MiB. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u += 1;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

/**
 * The one line the Web UI shows for a file's workflow: `18.0 MiB → LANDING-1, 2:QOS=SAFE, delete origin`. It
 * reads only what a batch's files share, so a batch's or a schedule's template gives the same line.
 */
export function fileSummary(
  input: Pick<IngestInput, 'landingRse' | 'qos' | 'mode' | 'deleteOrigin'>,
  bytes?: number,
): string {
  const parts = [input.landingRse, ...input.qos.map((q) => `${q.copies}:${q.rseExpression}`)];
  if (input.mode === 'rucio') parts.push('rucio mode');
  if (input.deleteOrigin) parts.push('delete origin');
  const size = bytes !== undefined && bytes > 0 ? `${formatBytes(bytes)} ` : '';
  return `${size}→ ${parts.join(', ')}`;
}
