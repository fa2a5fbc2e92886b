import fs from 'node:fs';
import { Readable } from 'node:stream';
import { checksumFile, checksumStream, readChunkFor } from './checksum.js';
import { permanentError } from './errors.js';
import type { Checksums, StorageAdapter, UploadSource } from './types.js';

/** A local file as an upload source. */
export function localFileSource(localPath: string, opts: { md5?: boolean; signal?: AbortSignal } = {}): UploadSource {
  let bytes: number;
  try {
    const st = fs.statSync(localPath);
    if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EISDIR' });
    bytes = st.size;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'UNREADABLE';
    throw permanentError(
      code === 'ENOENT' ? 'NOT_FOUND' : code,
      `source ${localPath} cannot be read (${code}): check the path and that this user may read it.`,
    );
  }
  return {
    bytes,
    describe: localPath,
    open: () => Promise.resolve(fs.createReadStream(localPath, { highWaterMark: readChunkFor(bytes) })),
    checksums: () => checksumFile(localPath, { md5: opts.md5, signal: opts.signal, bytes }),
  };
}

/**
 * Bytes already read and checksummed, as an upload source: a small file read once for its inspection is
 * sent from memory, not read and hashed a second time. `open()` gives the same bytes every time.
 */
export function memorySource(data: Buffer, describe: string, sums: Checksums): UploadSource {
  if (data.length !== sums.bytes) throw new Error(`memorySource: ${data.length} bytes, checksums of ${sums.bytes}`);
  return {
    bytes: data.length,
    describe,
    open: () => Promise.resolve(Readable.from([data])),
    checksums: () => Promise.resolve(sums),
    sent: sums,
  };
}

/** An object on a storage as an upload source (streamed copies); checksums read it through once if needed. */
export function storageSource(
  adapter: StorageAdapter,
  url: string,
  bytes: number,
  opts: { md5?: boolean; signal?: AbortSignal; known?: Checksums } = {},
): UploadSource {
  return {
    bytes,
    describe: url,
    open: (signal) => adapter.read(url, signal ?? opts.signal),
    checksums: async () =>
      opts.known ?? checksumStream(await adapter.read(url, opts.signal), { md5: opts.md5, signal: opts.signal }),
  };
}
