import type { ProgressCallback } from './types.js';

export const DEFAULT_NO_PROGRESS_TIMEOUT_MS = 60_000;
const PROGRESS_INTERVAL_MS = 250;

/**
 * Counts bytes, reports them at most every 250 ms (progress feeds Temporal heartbeats, which must not
 * flood), and fires `onStall` when no byte moved for `stallMs`.
 */
export class ProgressTracker {
  bytes = 0;
  private lastReport = 0;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly onProgress: ProgressCallback | undefined,
    private readonly stallMs: number,
    private readonly onStall: () => void,
  ) {
    this.arm();
  }

  add(n: number): void {
    this.bytes += n;
    this.arm();
    const now = Date.now();
    if (this.onProgress && now - this.lastReport >= PROGRESS_INTERVAL_MS) {
      this.lastReport = now;
      this.onProgress(this.bytes);
    }
  }

  /** Keep the stall timer alive without counting bytes (e.g. a TPC marker that shows movement). */
  set(total: number): void {
    if (total > this.bytes) this.add(total - this.bytes);
  }

  /** Final report and stop the stall timer. */
  done(): void {
    this.stop();
    this.onProgress?.(this.bytes);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(this.onStall, this.stallMs);
    this.timer.unref();
  }
}
