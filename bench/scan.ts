/**
 * A schedule's scan over a tree where most files were taken before: what it costs against the listing alone.
 * Planning only (no servers): the plan a scan runs on a worker, with and without the schedule's ledger.
 * Run: npx tsx bench/scan.ts. Env: BENCH_SCAN_FILES (default 50000), BENCH_SCAN_NEW (default 100).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { planBatch } from '../src/planning/plan-batch.js';
import { commitLedger, ScanLedger } from '../src/planning/scan-ledger.js';
import { walkDirectory } from '../src/policy/walk.js';

const total = Number(process.env.BENCH_SCAN_FILES ?? 50_000);
const fresh = Number(process.env.BENCH_SCAN_NEW ?? 100);
const base = fs.mkdtempSync(path.join(os.tmpdir(), 'rucio-ingest-bench-scan-'));
const root = path.join(base, 'watched');
const ledgerPath = path.join(base, 'ledger.jsonl');
const nextPath = path.join(base, 'ledger.next.jsonl');

function write(from: number, count: number): void {
  for (let i = from; i < from + count; i++) {
    const dir = path.join(root, `run${String(Math.floor(i / 500)).padStart(5, '0')}`);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `f${String(i).padStart(7, '0')}.dat`), `file ${i}`);
  }
}

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
}

async function scan(label: string, withLedger: boolean) {
  const ledger = withLedger ? await ScanLedger.open(ledgerPath, nextPath) : undefined;
  const r = await timed(() =>
    planBatch({
      sources: [root],
      namespace: { scope: 'user.demo', layout: 'tree', nameRule: 'keep' },
      metadata: {},
      excludeSuffixes: [],
      manifestPath: path.join(base, `${label}.jsonl`),
      ...(ledger ? { ledger } : {}),
      emptyOk: true,
    }),
  );
  const counts = ledger ? await ledger.finish() : undefined;
  if (ledger) commitLedger(ledgerPath, nextPath);
  // Nothing new: no manifest at all.
  const manifestBytes = fs.statSync(path.join(base, `${label}.jsonl`), { throwIfNoEntry: false })?.size ?? 0;
  return { label, ms: r.ms, files: r.value.files, manifestBytes, counts };
}

try {
  write(0, total);
  const walk = await timed(async () => {
    let n = 0;
    for await (const f of walkDirectory(root)) if (f) n += 1;
    return n;
  });
  const first = await scan('first', true);
  write(total, fresh);
  const second = await scan('second', true);
  const unchanged = await scan('third', true);
  const noLedger = await scan('no-ledger', false);
  const rows = [
    { case: `listing alone (${walk.value} files)`, ms: walk.ms, taken: '-' },
    { case: 'first scan (everything new)', ms: first.ms, taken: first.files },
    { case: `second scan (${fresh} new)`, ms: second.ms, taken: second.files },
    { case: 'third scan (nothing new)', ms: unchanged.ms, taken: unchanged.files },
    { case: 'the same tree planned without a ledger', ms: noLedger.ms, taken: noLedger.files },
  ];
  console.log(`scan of a tree of ${total + fresh} files, ${fresh} new (planning on one worker, no servers)`);
  for (const r of rows)
    console.log(`  ${r.case.padEnd(44)} ${(r.ms / 1000).toFixed(2).padStart(7)} s   taken ${r.taken}`);
  console.log(
    `  second scan ÷ listing alone: ${(second.ms / walk.ms).toFixed(2)}×; manifest ${second.manifestBytes} B ` +
      `(${first.manifestBytes} B the first time); ledger ${fs.statSync(ledgerPath).size} B; ` +
      `workflows and Rucio calls for the files seen before: none (the batch holds only the new ones)`,
  );
  console.log(JSON.stringify({ walk: walk.ms, first, second, unchanged, noLedger }));
} finally {
  fs.rmSync(base, { recursive: true, force: true });
}
