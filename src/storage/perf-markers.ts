/**
 * HTTP-TPC COPY answers with a stream of perf markers, e.g.
 *   Perf Marker / Timestamp: .. / Stripe Index: 0 / Stripe Bytes Transferred: 1234 / Total Stripe Count: 1 / End
 * and a last line `success: ...` or `failure: ...`. The HTTP status (201/202) is sent before the copy
 * runs, so only that last line says whether it worked.
 */
export interface TpcOutcome {
  ok: boolean;
  message: string;
}

export class PerfMarkerParser {
  private pending = '';
  private stripe = 0;
  private readonly stripes = new Map<number, number>();
  outcome?: TpcOutcome;

  /** Bytes transferred so far, summed over stripes. */
  get bytes(): number {
    let sum = 0;
    for (const v of this.stripes.values()) sum += v;
    return sum;
  }

  feed(text: string): void {
    this.pending += text;
    const lines = this.pending.split(/\r?\n/);
    this.pending = lines.pop() ?? '';
    for (const line of lines) this.line(line);
  }

  /** End of the body: the outcome, or a failure when the server never said. */
  end(): TpcOutcome {
    if (this.pending) this.line(this.pending);
    this.pending = '';
    return this.outcome ?? { ok: false, message: 'the COPY answer ended without a success or failure line' };
  }

  private line(raw: string): void {
    const line = raw.trim();
    if (!line) return;
    const m = /^(success|failure)\s*:\s*(.*)$/i.exec(line);
    if (m) {
      this.outcome = { ok: m[1]!.toLowerCase() === 'success', message: m[2] ?? '' };
      return;
    }
    const kv = /^([^:]+):\s*(.*)$/.exec(line);
    if (!kv) return;
    const key = kv[1]!.trim().toLowerCase();
    const value = Number(kv[2]);
    if (key === 'stripe index' && Number.isFinite(value)) this.stripe = value;
    else if (key === 'stripe bytes transferred' && Number.isFinite(value)) this.stripes.set(this.stripe, value);
  }
}
