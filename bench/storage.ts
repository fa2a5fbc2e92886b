/**
 * Storage throughput: our davs upload (checksummed in the same pass, temp + verify + rename) against
 * `curl -T` of the same file to the same endpoint, and checksum speed. Run: npx tsx bench/storage.ts
 * Env: BENCH_GIB (file size, default 2), BENCH_RSE (default LANDING-1).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { layout, rses } from '../src/sandbox/layout.js';
import { caFiles } from '../src/sandbox/xrootd.js';
import { adapterFor, checksumFile } from '../src/storage/index.js';
import { localFileSource } from '../src/storage/sources.js';
import { WebDavAdapter } from '../src/storage/webdav.js';

const run = promisify(execFile);
const gib = Number(process.env.BENCH_GIB ?? 2);
const rseName = process.env.BENCH_RSE ?? 'LANDING-1';
const rse = rses.find((r) => r.name === rseName);
if (!rse) throw new Error(`unknown sandbox RSE ${rseName}`);
const ca = caFiles(layout()).caFile;
process.env.X509_CERT_DIR ??= path.dirname(ca);

const bytes = Math.round(gib * 1024 ** 3);
const file = path.join(os.tmpdir(), `rucio-ingest-bench-${process.pid}.bin`);
const base = `davs://127.0.0.1:${rse.httpsPort}/rucio/bench/${process.pid}`;
const gbps = (ms: number) => bytes / 1e9 / (ms / 1000);

function makeFile(): void {
  const block = randomBytes(64 * 1024 * 1024);
  const fd = fs.openSync(file, 'w');
  for (let done = 0, i = 0; done < bytes; i++) {
    block.writeUInt32LE(i, 0);
    const n = Math.min(block.length, bytes - done);
    fs.writeSync(fd, block, 0, n);
    done += n;
  }
  fs.closeSync(fd);
}

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

async function main(): Promise<void> {
  console.log(`file: ${gib} GiB (${bytes} B) in ${os.tmpdir()}, RSE ${rseName} davs port ${rse!.httpsPort}`);
  makeFile();
  const dav = adapterFor(`${base}/x`);
  const rows: Array<[string, number]> = [];
  try {
    // Warm the page cache so every contender reads from memory.
    await checksumFile(file);
    rows.push(['checksum adler32', await time(() => checksumFile(file))]);
    rows.push(['checksum adler32+md5', await time(() => checksumFile(file, { md5: true }))]);

    const curlUrl = `https://127.0.0.1:${rse!.httpsPort}/rucio/bench/${process.pid}/curl.bin`;
    rows.push([
      'curl -T (no checksum)',
      await time(() => run('curl', ['-sS', '--fail', '--cacert', ca, '-T', file, curlUrl], { maxBuffer: 1 << 20 })),
    ]);
    await dav.delete(`${base}/curl.bin`);
    // The streaming pass alone (PUT with checksums on the fly): what the 0.9-of-curl target is about.
    const put = dav as WebDavAdapter;
    for (const md5 of [false, true]) {
      const url = `${base}/put-${md5 ? 'md5' : 'adler'}.bin`;
      rows.push([
        `davs PUT adler32${md5 ? '+md5' : ''} (streaming pass)`,
        await time(() => put.put(localFileSource(file, {}), url, { md5 })),
      ]);
      await dav.delete(url);
    }
    // The whole safe upload: PUT to a temporary, server-side digest check of it, MOVE.
    for (const md5 of [false, true]) {
      const url = `${base}/ours-${md5 ? 'md5' : 'adler'}.bin`;
      rows.push([
        `davs upload adler32${md5 ? '+md5' : ''} (+verify+rename)`,
        await time(() => dav.upload(file, url, { md5 })),
      ]);
      await dav.delete(url);
    }
  } finally {
    fs.rmSync(file, { force: true });
    fs.rmSync(path.join(layout().rseData(rseName), 'rucio', 'bench', String(process.pid)), {
      recursive: true,
      force: true,
    });
  }
  const curlMs = rows.find(([n]) => n.startsWith('curl'))![1];
  console.log(`${'what'.padEnd(44)} ${'seconds'.padStart(8)} ${'GB/s'.padStart(7)} ${'vs curl'.padStart(8)}`);
  for (const [name, ms] of rows) {
    const ratio = name.startsWith('checksum') ? '' : `${(curlMs / ms).toFixed(2)}x`;
    console.log(
      `${name.padEnd(44)} ${(ms / 1000).toFixed(2).padStart(8)} ${gbps(ms).toFixed(2).padStart(7)} ${ratio.padStart(8)}`,
    );
  }
}

await main();
