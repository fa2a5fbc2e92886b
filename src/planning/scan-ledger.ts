import fs from 'node:fs';
import readline from 'node:readline';
import { once } from 'node:events';

/**
 * What a schedule's scans have taken from its watched directory: one JSON line per file (relative path, size,
 * mtime), in the order the walk lists them. A scan walks the tree and the ledger side by side, as a merge of
 * two sorted lists, so a file taken before costs one comparison: no workflow, no Rucio call, no name in any
 * history, and memory stays bounded however large the tree. Failed files are retried through their batch
 * (`rucio-ingest batch retry`), not by the next scan; a file changed since it was taken is taken again.
 */
export interface LedgerEntry {
  /** Path relative to the watched directory, '/'-separated. */
  p: string;
  /** Size and mtime (ms) when taken; -1 and 0 for a file refused while planning. */
  s: number;
  m: number;
}

const byCodeUnits = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The walk's order (depth-first, each directory's names in code-unit order) over relative paths. Plain string
 * order differs: 'a.txt' < 'a/b' although the walk lists a/b first ('a' sorts before 'a.txt').
 */
export function compareWalkOrder(a: string, b: string): number {
  const x = a.split('/');
  const y = b.split('/');
  for (let i = 0; i < Math.min(x.length, y.length); i += 1) {
    const c = byCodeUnits(x[i] as string, y[i] as string);
    if (c !== 0) return c;
  }
  return x.length - y.length;
}

export interface LedgerCounts {
  /** Files taken before and still there, unchanged (kept in the ledger). */
  seen: number;
  /** Files taken by this scan. */
  taken: number;
  /** Entries dropped: their file is gone (deleted at origin) or changed. */
  dropped: number;
}

export class ScanLedger {
  readonly counts: LedgerCounts = { seen: 0, taken: 0, dropped: 0 };
  #current: LedgerEntry | undefined;
  #lastAsked: string | undefined;

  private constructor(
    private readonly entries: AsyncIterator<string> | undefined,
    private readonly out: fs.WriteStream,
    private readonly input: readline.Interface | undefined,
    /** Where the next ledger is written; `commitLedger` puts it in place once its batch has started. */
    readonly nextPath: string,
  ) {}

  /** Read `ledgerPath` (absent: nothing taken yet) and write its successor to `nextPath`. */
  static async open(ledgerPath: string, nextPath: string): Promise<ScanLedger> {
    let input: readline.Interface | undefined;
    if (fs.existsSync(ledgerPath))
      input = readline.createInterface({ input: fs.createReadStream(ledgerPath), crlfDelay: Infinity });
    // The iterator now, before any await: readline emits lines as it reads, and lines (or its close) emitted
    // before an iterator exists are lost; the scan would take every file again, or wait for ever.
    const entries = input?.[Symbol.asyncIterator]();
    const out = fs.createWriteStream(nextPath);
    await once(out, 'open');
    const ledger = new ScanLedger(entries, out, input, nextPath);
    await ledger.#advance();
    return ledger;
  }

  async #advance(): Promise<void> {
    this.#current = undefined;
    if (!this.entries) return;
    for (;;) {
      const r = await this.entries.next();
      if (r.done) return;
      if (r.value.trim() === '') continue;
      this.#current = JSON.parse(r.value) as LedgerEntry;
      return;
    }
  }

  async #write(e: LedgerEntry): Promise<void> {
    if (!this.out.write(`${JSON.stringify(e)}\n`)) await once(this.out, 'drain');
  }

  /**
   * Was this file taken by an earlier scan, unchanged? Asked for every walked file, in walk order: entries
   * passed over belong to files no longer there and are dropped.
   */
  async seen(p: string, s: number, m: number): Promise<boolean> {
    if (this.#lastAsked !== undefined && compareWalkOrder(this.#lastAsked, p) >= 0)
      throw new Error(`scan ledger: ${p} asked after ${this.#lastAsked}, out of walk order`);
    this.#lastAsked = p;
    while (this.#current && compareWalkOrder(this.#current.p, p) < 0) {
      this.counts.dropped += 1;
      await this.#advance();
    }
    const e = this.#current;
    if (!e || e.p !== p) return false;
    await this.#advance();
    if (e.s !== s || e.m !== m) {
      this.counts.dropped += 1;
      return false;
    }
    this.counts.seen += 1;
    await this.#write(e);
    return true;
  }

  /** This scan takes the file (it is in the batch's manifest); asked right after `seen` said no. */
  async take(p: string, s: number, m: number): Promise<void> {
    this.counts.taken += 1;
    await this.#write({ p, s, m });
  }

  /** The walk is over: what is left of the old ledger is gone from the tree. */
  async finish(): Promise<LedgerCounts> {
    while (this.#current) {
      this.counts.dropped += 1;
      await this.#advance();
    }
    this.input?.close();
    this.out.end();
    await once(this.out, 'finish');
    return this.counts;
  }

  /** Planning failed: the old ledger stays as it was. */
  abort(): void {
    this.input?.close();
    this.out.destroy();
    fs.rmSync(this.nextPath, { force: true });
  }
}

/** The batch of the scan has started: its files are now the ledger's (an atomic rename). */
export function commitLedger(ledgerPath: string, nextPath: string): void {
  if (fs.existsSync(nextPath)) fs.renameSync(nextPath, ledgerPath);
}
