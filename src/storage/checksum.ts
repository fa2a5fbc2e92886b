import { createHash, type Hash } from 'node:crypto';
import fs from 'node:fs';
import { createAdler32 } from 'hash-wasm';
import { formatAdler32 } from '../shared/checksum-format.js';
import { abortedError, noProgressError, toStorageError } from './errors.js';
import { DEFAULT_NO_PROGRESS_TIMEOUT_MS, ProgressTracker } from './progress.js';
import type { Checksums, ProgressCallback } from './types.js';

type Adler32 = Awaited<ReturnType<typeof createAdler32>>;

/** adler32 (always) and md5 (optionally) of bytes fed in order: one pass, whatever the bytes go to. */
export class ChecksumAccumulator {
  bytes = 0;
  private constructor(
    private readonly adler: Adler32,
    private readonly md5?: Hash,
  ) {}

  static async create(md5 = false): Promise<ChecksumAccumulator> {
    const adler = await createAdler32();
    adler.init();
    return new ChecksumAccumulator(adler, md5 ? createHash('md5') : undefined);
  }

  update(chunk: Uint8Array): void {
    this.bytes += chunk.length;
    this.adler.update(chunk);
    this.md5?.update(chunk);
  }

  result(): Checksums {
    const sums: Checksums = { bytes: this.bytes, adler32: formatAdler32(this.adler.digest('hex')) };
    if (this.md5) sums.md5 = this.md5.digest('hex');
    return sums;
  }
}

export interface ChecksumOptions {
  md5?: boolean;
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
  noProgressTimeoutMs?: number;
}

/** Large reads: hashing is faster per call on big chunks, and fewer event-loop turns. */
export const READ_CHUNK_BYTES = 4 * 1024 * 1024;

export async function checksumFile(path: string, opts: ChecksumOptions = {}): Promise<Checksums> {
  return checksumStream(fs.createReadStream(path, { highWaterMark: READ_CHUNK_BYTES }), opts, `checksum ${path}`);
}

/** Checksum a stream to its end (destroying it on abort or stall). */
export async function checksumStream(
  stream: NodeJS.ReadableStream,
  opts: ChecksumOptions = {},
  what = 'checksum stream',
): Promise<Checksums> {
  const acc = await ChecksumAccumulator.create(opts.md5);
  const destroy = (err: Error) => (stream as NodeJS.ReadableStream & { destroy?: (e: Error) => void }).destroy?.(err);
  let failure: Error | undefined;
  const fail = (err: Error) => {
    failure ??= err;
    destroy(err);
  };
  const stallMs = opts.noProgressTimeoutMs ?? DEFAULT_NO_PROGRESS_TIMEOUT_MS;
  const tracker = new ProgressTracker(opts.onProgress, stallMs, () => fail(noProgressError(what, stallMs)));
  const onAbort = () => fail(abortedError(what));
  if (opts.signal?.aborted) onAbort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const chunk of stream) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      acc.update(buf);
      tracker.add(buf.length);
    }
    if (failure) throw failure;
    tracker.done();
    return acc.result();
  } catch (err) {
    throw toStorageError(failure ?? err, what);
  } finally {
    tracker.stop();
    opts.signal?.removeEventListener('abort', onAbort);
  }
}
