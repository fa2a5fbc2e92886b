import cliProgress from 'cli-progress';
import type { BatchStatus } from '../shared/batch-input.js';
import { formatBytes } from '../shared/file-summary.js';

const finished = (s: BatchStatus) => s.counts.done + s.counts.failed + s.counts.cancelled;

function rate(s: BatchStatus): { mbps: number; filesPerS: number } {
  const t = Math.max(1, s.elapsedSeconds);
  return { mbps: s.bytesDone / 1e6 / t, filesPerS: finished(s) / t };
}

function eta(s: BatchStatus): string {
  const left = s.total.files - finished(s);
  const { filesPerS } = rate(s);
  if (left <= 0) return '0s';
  if (filesPerS <= 0) return '?';
  return duration(left / filesPerS);
}

export function duration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** One line: what a log file or a cron mail shows every few seconds. */
export function progressLine(s: BatchStatus): string {
  const c = s.counts;
  return (
    `batch ${s.batchId}: ${c.done}/${s.total.files} done, ${c.failed} failed, ${c.inFlight} in flight, ${c.queued} queued, ` +
    `${formatBytes(s.bytesDone)}, ${rate(s).mbps.toFixed(1)} MB/s, ETA ${eta(s)}`
  );
}

/** Live progress: a bar on a terminal, a plain line every `plainEverySeconds` otherwise. */
export class BatchProgress {
  private bar?: cliProgress.SingleBar;
  private lastPlain = 0;

  constructor(
    private readonly tty: boolean,
    private readonly plainEverySeconds = 10,
  ) {}

  update(s: BatchStatus): void {
    const c = s.counts;
    const payload = {
      done: c.done,
      failed: c.failed,
      inFlight: c.inFlight,
      queued: c.queued,
      bytes: formatBytes(s.bytesDone),
      mbps: rate(s).mbps.toFixed(1),
      etaText: eta(s),
    };
    if (this.tty) {
      if (!this.bar) {
        this.bar = new cliProgress.SingleBar(
          {
            format:
              '{bar} {percentage}% | {done} done, {failed} failed, {inFlight} in flight, {queued} queued | {bytes}, {mbps} MB/s | ETA {etaText}',
            hideCursor: true,
            stream: process.stderr,
          },
          cliProgress.Presets.shades_classic,
        );
        this.bar.start(s.total.files, finished(s), payload);
      }
      this.bar.setTotal(s.total.files);
      this.bar.update(finished(s), payload);
      return;
    }
    const now = Date.now();
    if (now - this.lastPlain >= this.plainEverySeconds * 1000) {
      this.lastPlain = now;
      console.error(progressLine(s));
    }
  }

  stop(): void {
    this.bar?.stop();
  }
}

export function webUiLink(batchId: string, namespace: string): string {
  const base = process.env.RUCIO_INGEST_TEMPORAL_UI ?? process.env.TEMPORAL_UI_URL;
  const query = `RucioBatch="${batchId}"`;
  return base
    ? `${base}/namespaces/${namespace}/workflows?query=${encodeURIComponent(query)}`
    : `Temporal Web UI, namespace ${namespace}: ${query}`;
}

/** The end of a batch for people: counts per outcome, bytes, rate, failures by reason, where to look. */
export function summaryText(s: BatchStatus, namespace: string): string {
  const c = s.counts;
  const r = rate(s);
  const lines = [
    `batch ${s.batchId}: ${s.state}`,
    `  files:  ${s.total.files} in all — ${c.done} done${c.alreadyDone ? ` (${c.alreadyDone} already ingested before)` : ''}, ` +
      `${c.failed} failed, ${c.cancelled} cancelled, ${c.inFlight} in flight, ${c.queued} not started`,
    `  bytes:  ${formatBytes(s.bytesDone)} of ${formatBytes(s.total.bytes)} in ${duration(s.elapsedSeconds)} ` +
      `(${r.mbps.toFixed(1)} MB/s, ${r.filesPerS.toFixed(2)} files/s)`,
  ];
  const reasons = Object.entries(s.failures).sort((a, b) => b[1] - a[1]);
  if (reasons.length > 0) {
    lines.push('  failures by reason:');
    for (const [why, n] of reasons) lines.push(`    ${String(n).padStart(7)}  ${why}`);
    lines.push(
      `  list them: rucio-ingest batch failed ${s.batchId}; once fixed: rucio-ingest batch retry ${s.batchId}`,
    );
  }
  lines.push(`  Web UI: ${webUiLink(s.batchId, namespace)}`);
  return lines.join('\n');
}

/** 0: every file done; 1: some failed or were cancelled (or the batch did not finish). */
export function exitCodeOf(s: BatchStatus): number {
  return s.state === 'done' && s.counts.failed === 0 && s.counts.cancelled === 0 && s.counts.inFlight === 0 ? 0 : 1;
}
