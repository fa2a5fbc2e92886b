import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';

/** Two sources that map to the same key; `first`/`second` describe them, e.g. 'dir/a+b.dat', 'manifest.jsonl line 7'. */
export interface Collision {
  key: string;
  first: string;
  second: string;
}

const bucketCount = 64;
/** Collisions kept for the report; the count covers all of them. */
const maxKept = 10_000;
/** Beyond this a bucket that is still too big is read as it is: splitting cannot separate equal keys. */
const maxSplitDepth = 3;

/** FNV-1a over UTF-16 code units; the seed gives each re-partitioning level a different spread. */
function hashOf(key: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** A spilled entry: `seq` is its place in the input, so collisions are reported in input order. */
type SpilledEntry = [seq: number, key: string, source: string];

class BucketFiles {
  readonly counts: number[];
  private readonly streams: WriteStream[];

  constructor(
    readonly dir: string,
    private readonly seed: number,
    buckets: number,
  ) {
    this.counts = new Array<number>(buckets).fill(0);
    this.streams = this.counts.map((_, i) => createWriteStream(this.fileOf(i)));
  }

  fileOf(bucket: number): string {
    return path.join(this.dir, `bucket-${bucket}`);
  }

  async write(entry: SpilledEntry): Promise<void> {
    const bucket = hashOf(entry[1], this.seed) % this.counts.length;
    this.counts[bucket]!++;
    const stream = this.streams[bucket]!;
    // JSON keeps keys and sources with newlines or any other character on one line.
    if (!stream.write(`${JSON.stringify(entry)}\n`)) await once(stream, 'drain');
  }

  async close(): Promise<void> {
    await Promise.all(
      this.streams.map(
        (s) => new Promise<void>((resolve, reject) => s.end((err?: Error | null) => (err ? reject(err) : resolve()))),
      ),
    );
  }
}

async function* entriesOf(file: string): AsyncGenerator<SpilledEntry> {
  for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
    if (line !== '') yield JSON.parse(line) as SpilledEntry;
  }
}

/**
 * Finds keys (DIDs) added more than once among any number of entries. Up to `maxInMemory` keys are
 * checked in a Map; beyond that every key goes to one of 64 temporary files by its hash, so equal keys
 * share a file and each file is checked on its own in finish(). A file still holding more than
 * `maxInMemory` entries is split again with another hash, so memory stays about `maxInMemory` keys.
 */
export class CollisionFinder {
  private readonly maxInMemory: number;
  private readonly tmpDir: string;
  private readonly seen = new Map<string, string>();
  private readonly found: Array<{ seq: number; collision: Collision }> = [];
  private maxReported = maxKept;
  private count = 0;
  private seq = 0;
  private spilled?: BucketFiles;
  private spillRoot?: string;
  private finished = false;

  constructor(opts: { maxInMemory?: number; tmpDir?: string } = {}) {
    this.maxInMemory = Math.max(1, opts.maxInMemory ?? 100_000);
    this.tmpDir = opts.tmpDir ?? os.tmpdir();
  }

  async add(key: string, source: string): Promise<void> {
    if (this.finished) throw new Error('CollisionFinder.add() after finish()');
    const seq = this.seq++;
    if (this.spilled) return this.spilled.write([seq, key, source]);
    const first = this.seen.get(key);
    if (first !== undefined) return this.record(seq, { key, first, second: source });
    if (this.seen.size < this.maxInMemory) {
      this.seen.set(key, source);
      return;
    }
    await this.spill();
    await this.spilled!.write([seq, key, source]);
  }

  /** The first `max` collisions in input order and how many duplicate occurrences there are in all. */
  async finish(max = 20): Promise<{ collisions: Collision[]; count: number }> {
    if (this.finished) throw new Error('CollisionFinder.finish() called twice');
    this.finished = true;
    this.maxReported = Math.min(max, maxKept);
    try {
      if (this.spilled) {
        await this.spilled.close();
        await this.checkBuckets(this.spilled, 1);
      }
    } finally {
      if (this.spillRoot) await rm(this.spillRoot, { recursive: true, force: true });
      this.seen.clear();
    }
    this.trimFound();
    return { collisions: this.found.map((f) => f.collision), count: this.count };
  }

  /** The Map's keys go to the bucket files ahead of everything added later, then the Map is freed. */
  private async spill(): Promise<void> {
    this.spillRoot = await mkdtemp(path.join(this.tmpDir, 'rucio-ingest-collisions-'));
    this.spilled = await this.newBuckets(0, bucketCount);
    // First occurrences are never reported as `second`, so they need no sequence number of their own.
    for (const [key, source] of this.seen) await this.spilled.write([-1, key, source]);
    this.seen.clear();
  }

  private async newBuckets(seed: number, buckets: number): Promise<BucketFiles> {
    return new BucketFiles(await mkdtemp(path.join(this.spillRoot!, `level-${seed}-`)), seed, buckets);
  }

  private async checkBuckets(buckets: BucketFiles, depth: number): Promise<void> {
    for (let b = 0; b < buckets.counts.length; b++) {
      const file = buckets.fileOf(b);
      const entries = buckets.counts[b]!;
      if (entries > this.maxInMemory && depth <= maxSplitDepth) {
        // Twice the buckets strictly needed, so an uneven spread rarely needs another level.
        const split = await this.newBuckets(depth, Math.min(bucketCount, Math.ceil((2 * entries) / this.maxInMemory)));
        for await (const entry of entriesOf(file)) await split.write(entry);
        await split.close();
        await rm(file);
        await this.checkBuckets(split, depth + 1);
        continue;
      }
      const firstByKey = new Map<string, string>();
      for await (const [seq, key, source] of entriesOf(file)) {
        const first = firstByKey.get(key);
        if (first === undefined) firstByKey.set(key, source);
        else this.record(seq, { key, first, second: source });
      }
      await rm(file);
    }
  }

  private record(seq: number, collision: Collision): void {
    this.count++;
    this.found.push({ seq, collision });
    if (this.found.length >= 2 * this.maxReported) this.trimFound();
  }

  /** Keep only the earliest `maxReported` collisions (buckets find them out of input order). */
  private trimFound(): void {
    this.found.sort((a, b) => a.seq - b.seq);
    if (this.found.length > this.maxReported) this.found.length = this.maxReported;
  }
}
