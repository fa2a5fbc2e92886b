import { Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ChecksumAccumulator } from './checksum.js';
import { abortedError, noProgressError, toStorageError } from './errors.js';
import { DEFAULT_NO_PROGRESS_TIMEOUT_MS, ProgressTracker } from './progress.js';
import type { Checksums, TransferOptions } from './types.js';

/**
 * An AbortController that fires on the caller's signal or when no byte moved for the stall timeout,
 * remembering which of the two (and so which error to throw).
 */
export class TransferGuard {
  readonly controller = new AbortController();
  readonly tracker: ProgressTracker;
  failure?: Error;
  private readonly onAbort = () => this.fail(abortedError(this.what));

  constructor(
    private readonly what: string,
    private readonly opts: TransferOptions,
  ) {
    const stallMs = opts.noProgressTimeoutMs ?? DEFAULT_NO_PROGRESS_TIMEOUT_MS;
    this.tracker = new ProgressTracker(opts.onProgress, stallMs, () => this.fail(noProgressError(what, stallMs)));
    if (opts.signal?.aborted) this.onAbort();
    else opts.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  fail(err: Error): void {
    this.failure ??= err;
    this.controller.abort(err);
  }

  /** The error to throw for `err`: the abort/stall reason when we caused it, else a classified one. */
  error(err: unknown): Error {
    return this.failure ?? toStorageError(err, this.what);
  }

  close(): void {
    this.tracker.stop();
    this.opts.signal?.removeEventListener('abort', this.onAbort);
  }
}

/**
 * Stream `input` into `output`, computing adler32 (and md5) of every chunk in the same pass; with `known`
 * (the input's bytes are already checksummed: see UploadSource.sent), counting them only. Backpressure,
 * errors and aborts are pipeline's; resolves when `output` has taken every byte.
 */
export async function pumpWithChecksums(
  input: Readable,
  output: Writable,
  guard: TransferGuard,
  md5 = false,
  known?: Checksums,
): Promise<Checksums> {
  const acc = known ? undefined : await ChecksumAccumulator.create(md5);
  let bytes = 0;
  const hashing = new Transform({
    transform(chunk: Buffer, _enc, done) {
      acc?.update(chunk);
      bytes += chunk.length;
      guard.tracker.add(chunk.length);
      done(null, chunk);
    },
  });
  try {
    await pipeline(input, hashing, output, { signal: guard.signal });
  } catch (err) {
    throw guard.error(err);
  }
  if (acc) return acc.result();
  // Bytes held in memory cannot change; a count that differs is a bug of the source, caught all the same.
  return bytes === known!.bytes ? known! : { bytes, adler32: '' };
}

export function sameContent(a: Checksums, b: Checksums): boolean {
  return a.bytes === b.bytes && a.adler32 === b.adler32 && (!a.md5 || !b.md5 || a.md5 === b.md5);
}
