import { adapterFor, type AdapterOptions } from './index.js';
import { permanentError, StorageError } from './errors.js';
import { safeWrite } from './safe-write.js';
import { storageSource } from './sources.js';
import type { Checksums, CopyOptions, CopyResult, FullStorageAdapter } from './types.js';
import { parseStorageUrl } from './url.js';
import { WebDavAdapter } from './webdav.js';

const HTTP_SCHEMES = new Set(['davs', 'https']);

/**
 * Copy one storage object to another URL safely (temporary name, verify, rename). Between two
 * https/davs endpoints: HTTP third-party copy, pull then push; otherwise, or when TPC is refused or
 * fails, stream the bytes through this process.
 */
export async function copy(
  srcUrl: string,
  dstUrl: string,
  opts: CopyOptions & { adapters?: AdapterOptions } = {},
): Promise<CopyResult> {
  const src = adapterFor(srcUrl, opts.adapters);
  const dst = adapterFor(dstUrl, opts.adapters);
  const found = await src.digest(srcUrl, { md5: opts.md5, signal: opts.signal });
  if (!found) {
    throw permanentError('NOT_FOUND', `copy source ${srcUrl} does not exist: check the PFN and the replica in Rucio.`);
  }
  // What the copy must produce: the caller's checksums, else the source's own digest (no read needed).
  const known: Checksums | undefined =
    opts.expected ?? (found.adler32 ? { bytes: found.bytes, adler32: found.adler32, md5: found.md5 } : undefined);
  if (opts.expected && found.bytes !== opts.expected.bytes) {
    throw permanentError(
      'SOURCE_DIFFERENT',
      `copy source ${srcUrl} has ${found.bytes} B, expected ${opts.expected.bytes} B: the source replica is not the file.`,
    );
  }

  const notes: string[] = [];
  const tpcPossible =
    opts.tpc !== false &&
    known !== undefined &&
    HTTP_SCHEMES.has(parseStorageUrl(srcUrl).scheme) &&
    HTTP_SCHEMES.has(parseStorageUrl(dstUrl).scheme) &&
    dst instanceof WebDavAdapter &&
    src instanceof WebDavAdapter;
  if (tpcPossible) {
    for (const mode of ['pull', 'push'] as const) {
      try {
        const result = await safeWrite(dst, dstUrl, (temp) => tpcInto(dst, mode, srcUrl, temp, known, opts), {
          signal: opts.signal,
          expected: known,
          sourceChecksums: () => Promise.resolve(known),
          describe: srcUrl,
          attempt: opts.attempt,
          verify: opts.verify,
        });
        return { mode: `tpc-${mode}`, checksums: result.checksums, alreadyThere: result.alreadyThere, notes };
      } catch (err) {
        if (!(err instanceof TpcNotDone)) throw err;
        notes.push(`tpc-${mode}: ${err.message}`);
      }
    }
  }
  const source = storageSource(src, srcUrl, found.bytes, { md5: opts.md5, signal: opts.signal, known });
  const result = await (dst as FullStorageAdapter).uploadFrom(source, dstUrl, { ...opts, expected: known });
  return { mode: 'streamed', checksums: result.checksums, alreadyThere: result.alreadyThere, notes };
}

/** TPC refused or failed on the server side: worth trying the next mode. */
class TpcNotDone extends Error {}

async function tpcInto(
  dav: WebDavAdapter,
  mode: 'pull' | 'push',
  srcUrl: string,
  tempUrl: string,
  known: Checksums,
  opts: CopyOptions,
): Promise<Checksums> {
  let outcome;
  try {
    outcome = await dav.thirdPartyCopy(mode, srcUrl, tempUrl, opts);
  } catch (err) {
    // Our abort, a stall or a storage that is down: retry the whole copy later, do not fall back.
    if (err instanceof StorageError && (err.code === 'ABORTED' || err.code === 'NO_PROGRESS')) throw err;
    if (err instanceof StorageError && err.kind === 'permanent') throw new TpcNotDone(err.message);
    throw err;
  }
  if (!outcome.ok)
    throw new TpcNotDone(outcome.refused ? `refused (${outcome.message})` : `failed: ${outcome.message}`);
  // The safe-write flow verifies the temporary copy against these before renaming it.
  return known;
}
