import { permanentError } from './errors.js';
import type { TlsOptions } from './http.js';
import { PosixAdapter } from './posix.js';
import type { FullStorageAdapter } from './types.js';
import { parseStorageUrl } from './url.js';
import { WebDavAdapter } from './webdav.js';
import { XrootdAdapter } from './xrootd.js';

export type AdapterOptions = TlsOptions & { xrootdBinDir?: string };

const cache = new Map<string, FullStorageAdapter>();

/** The adapter for a URL's scheme: file:// (and plain paths), davs://, https://, root://. */
export function adapterFor(url: string, opts: AdapterOptions = {}): FullStorageAdapter {
  const { scheme } = parseStorageUrl(url);
  const family = scheme === 'davs' || scheme === 'https' ? 'webdav' : scheme;
  // Adapters hold connection pools: one per family and options.
  const key = `${family}|${opts.ca ? String(opts.ca) : ''}|${opts.xrootdBinDir ?? ''}`;
  let adapter = cache.get(key);
  if (!adapter) {
    if (family === 'webdav') adapter = new WebDavAdapter(opts);
    else if (family === 'file') adapter = new PosixAdapter();
    else if (family === 'root') adapter = new XrootdAdapter({ binDir: opts.xrootdBinDir });
    else {
      throw permanentError(
        'UNSUPPORTED_SCHEME',
        `no storage adapter for ${scheme}:// (supported: file, davs, https, root)`,
      );
    }
    cache.set(key, adapter);
  }
  return adapter;
}

export { checksumBuffer, checksumFile, checksumStream, ChecksumAccumulator } from './checksum.js';
export { memorySource } from './sources.js';
export { StorageError, type StorageErrorKind } from './errors.js';
export { PosixAdapter } from './posix.js';
export { WebDavAdapter } from './webdav.js';
export { XrootdAdapter } from './xrootd.js';
export { parseStorageUrl, httpsUrl, encodePath } from './url.js';
export type * from './types.js';
