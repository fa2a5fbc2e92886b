import { createHash, type Hash } from 'node:crypto';
import fs from 'node:fs';
import { createAdler32, createMD5 } from 'hash-wasm';
import { formatAdler32 } from '../shared/checksum-format.js';
import { abortedError, noProgressError, toStorageError } from './errors.js';
import { DEFAULT_NO_PROGRESS_TIMEOUT_MS, ProgressTracker } from './progress.js';
import type { Checksums, ProgressCallback } from './types.js';

type WasmHasher = Awaited<ReturnType<typeof createAdler32>>;

/** A checksum pass stopped part way: enough to carry on from `bytes` in another process. */
export interface ChecksumCheckpoint {
  bytes: number;
  /** hash-wasm adler32 state, base64. */
  adler32: string;
  /** hash-wasm md5 state, base64 (when md5 is computed). */
  md5?: string;
}

/** adler32 (always) and md5 (optionally) of bytes fed in order: one pass, whatever the bytes go to. */
export class ChecksumAccumulator {
  private constructor(
    private readonly adler: WasmHasher,
    private readonly md5?: Hash | WasmHasher,
    public bytes = 0,
  ) {}

  /**
   * `resumable` keeps md5 in WebAssembly, whose state can be saved (Node's cannot), at ~20 % of md5
   * speed; `from` carries on from a checkpoint.
   */
  static async create(
    md5 = false,
    opts: { resumable?: boolean; from?: ChecksumCheckpoint } = {},
  ): Promise<ChecksumAccumulator> {
    const adler = await createAdler32();
    adler.init();
    if (opts.from) adler.load(Buffer.from(opts.from.adler32, 'base64'));
    if (!md5) return new ChecksumAccumulator(adler, undefined, opts.from?.bytes ?? 0);
    if (!opts.resumable && !opts.from) return new ChecksumAccumulator(adler, createHash('md5'));
    const m = await createMD5();
    m.init();
    if (opts.from?.md5) m.load(Buffer.from(opts.from.md5, 'base64'));
    return new ChecksumAccumulator(adler, m, opts.from?.bytes ?? 0);
  }

  update(chunk: Uint8Array): void {
    this.bytes += chunk.length;
    this.adler.update(chunk);
    this.md5?.update(chunk);
  }

  /** The state so far, when every hasher can save it (adler32 always can; md5 only in resumable mode). */
  checkpoint(): ChecksumCheckpoint | undefined {
    if (this.md5 && !('save' in this.md5)) return undefined;
    const cp: ChecksumCheckpoint = { bytes: this.bytes, adler32: Buffer.from(this.adler.save()).toString('base64') };
    if (this.md5 && 'save' in this.md5) cp.md5 = Buffer.from(this.md5.save()).toString('base64');
    return cp;
  }

  result(): Checksums {
    const sums: Checksums = { bytes: this.bytes, adler32: formatAdler32(this.adler.digest('hex')) };
    if (this.md5) sums.md5 = 'save' in this.md5 ? this.md5.digest('hex') : this.md5.digest('hex');
    return sums;
  }
}

export interface ChecksumOptions {
  md5?: boolean;
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
  noProgressTimeoutMs?: number;
  /** Keep a saveable state (see ChecksumAccumulator.create) and hand out its reader. */
  onCheckpointable?: (checkpoint: () => ChecksumCheckpoint | undefined) => void;
  /** Carry on from this checkpoint (a file: read from its byte offset). */
  resumeFrom?: ChecksumCheckpoint;
  /** checksumFile: the file's size, as the caller's stat found it (sizes the read chunk). */
  bytes?: number;
}

/** Large reads: hashing is faster per call on big chunks, and fewer event-loop turns. */
export const READ_CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * The read chunk for `bytes` still to read: a small file gets a buffer of its own size, not 4 MiB. A file
 * stream allocates a whole chunk for every read (and one more to find the end), so 4 MiB chunks for 1 MiB
 * files made ~18 MiB of buffers a file, and V8 ran a scavenge for that external memory 8 times a second
 * (measured: 236 of a worker's 264 scavenges in a 600-file batch). A file that grew is still read to its end.
 */
export function readChunkFor(bytes: number): number {
  return Math.min(READ_CHUNK_BYTES, Math.max(64 * 1024, bytes));
}

/** adler32 (and md5) of bytes in memory. */
export async function checksumBuffer(data: Uint8Array, md5 = false): Promise<Checksums> {
  const acc = await ChecksumAccumulator.create(md5);
  acc.update(data);
  return acc.result();
}

export async function checksumFile(path: string, opts: ChecksumOptions = {}): Promise<Checksums> {
  const start = opts.resumeFrom?.bytes ?? 0;
  const chunk = opts.bytes === undefined ? READ_CHUNK_BYTES : readChunkFor(opts.bytes - start);
  const stream = fs.createReadStream(path, { highWaterMark: chunk, start });
  return checksumStream(stream, opts, `checksum ${path}`);
}

/** Checksum a stream to its end (destroying it on abort or stall). */
export async function checksumStream(
  stream: NodeJS.ReadableStream,
  opts: ChecksumOptions = {},
  what = 'checksum stream',
): Promise<Checksums> {
  const acc = await ChecksumAccumulator.create(opts.md5, {
    resumable: !!opts.onCheckpointable,
    from: opts.resumeFrom,
  });
  opts.onCheckpointable?.(() => acc.checkpoint());
  const destroy = (err: Error) => (stream as NodeJS.ReadableStream & { destroy?: (e: Error) => void }).destroy?.(err);
  let failure: Error | undefined;
  const fail = (err: Error) => {
    failure ??= err;
    destroy(err);
  };
  const stallMs = opts.noProgressTimeoutMs ?? DEFAULT_NO_PROGRESS_TIMEOUT_MS;
  const tracker = new ProgressTracker(opts.onProgress, stallMs, () => fail(noProgressError(what, stallMs)));
  if (opts.resumeFrom) tracker.set(opts.resumeFrom.bytes);
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
