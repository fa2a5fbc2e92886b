import { permanentError, StorageError } from './errors.js';
import { sameContent } from './pump.js';
import type { Checksums, StatResult, UploadResult, VerifyOptions, VerifyResult } from './types.js';
import { tempSiblingUrl } from './url.js';

/** The operations of one storage the safe-write flow needs. */
export interface SafeWriteTarget {
  stat(url: string, signal?: AbortSignal): Promise<StatResult | undefined>;
  verify(url: string, expected: Checksums, opts?: VerifyOptions): Promise<VerifyResult>;
  /** Rename; callers check the target name is free first (XRootD ignores `Overwrite: F`, xrdfs mv overwrites). */
  rename(fromUrl: string, toUrl: string, signal?: AbortSignal): Promise<void>;
  delete(url: string, signal?: AbortSignal): Promise<boolean>;
}

export interface SafeWriteOptions {
  signal?: AbortSignal;
  expected?: Checksums;
  /** The source's checksums, computed only when an existing target must be compared. */
  sourceChecksums: () => Promise<Checksums>;
  /** For messages. */
  describe: string;
  /** Retry attempt of the caller: names the temporary and lets earlier attempts' leftovers be removed. */
  attempt?: number;
  /** How the temporary is verified (digest, read back, size only when no digest). */
  verify?: Pick<VerifyOptions, 'readbackFallback' | 'forceReadback'>;
  /** The source's size, when known before writing (else `expected.bytes`): see `lookFirst`. */
  bytes?: number;
}

/**
 * Sources under this size are not looked for on the storage before a first attempt writes them. A new name
 * is the rule, and the look costs a round trip, or on XRootD 5.5, which closes the connection after every
 * 404, a new TLS connection. The look before the rename still finds a file that is there: it is then
 * compared, as before, and only the bytes were sent for nothing. Retries and big sources look first.
 */
const lookFirstMinBytes = 16 * 1024 * 1024;

function lookFirst(opts: SafeWriteOptions): boolean {
  const bytes = opts.bytes ?? opts.expected?.bytes;
  return opts.attempt !== 1 || bytes === undefined || bytes >= lookFirstMinBytes;
}

/** Earlier attempts' temporaries are looked for this far back (attempts beyond are rare and backed off). */
const staleAttemptsChecked = 20;

/**
 * Write to a hidden temporary sibling, verify it (size + digest), then rename it to `url`: readers never
 * see a partial file, and a failed or aborted write leaves nothing behind. An existing identical target
 * is success without writing; an existing different one is never overwritten.
 */
export async function safeWrite(
  target: SafeWriteTarget,
  url: string,
  writeTemp: (tempUrl: string) => Promise<Checksums>,
  opts: SafeWriteOptions,
): Promise<UploadResult> {
  const existing = lookFirst(opts) ? await target.stat(url, opts.signal) : undefined;
  if (existing) return compareExisting(target, url, existing, opts);

  const attempt = opts.attempt;
  const temp = tempSiblingUrl(url, attempt === undefined ? undefined : `a${attempt}`);
  if (attempt !== undefined && attempt > 1) {
    // A worker killed mid-write leaves its temporary behind: without this it would be dark data.
    for (let a = Math.max(1, attempt - staleAttemptsChecked); a < attempt; a++)
      await target.delete(tempSiblingUrl(url, `a${a}`), opts.signal);
  }
  try {
    const sent = await writeTemp(temp);
    if (opts.expected && !sameContent(sent, opts.expected)) {
      // Permanent: a retry would compare against the same expectation, and a source still being written
      // must not be ingested half-way. The caller re-inspects (a new run) once the writer is done.
      throw permanentError(
        'SOURCE_CHANGED',
        `${opts.describe} changed while being sent: expected ${opts.expected.bytes} B adler32 ${opts.expected.adler32}, ` +
          `sent ${sent.bytes} B adler32 ${sent.adler32}. Something still writes the source: ingest it again once it is complete.`,
      );
    }
    const check = await target.verify(temp, sent, { ...opts.verify, signal: opts.signal });
    if (!check.ok) {
      throw permanentError(
        'CHECKSUM_MISMATCH',
        `${url}: the storage holds something else than what was sent (${check.reason}, by ${check.method}). ` +
          'The data was corrupted in transit or on the storage: check the storage before retrying.',
      );
    }
    const raced = await target.stat(url, opts.signal);
    if (raced) {
      // Someone else finished first (a concurrent attempt): fine when identical.
      const result = await compareExisting(target, url, raced, { ...opts, expected: sent });
      await removeQuietly(target, temp);
      return result;
    }
    await target.rename(temp, url, opts.signal);
    return { checksums: sent, alreadyThere: false };
  } catch (err) {
    await removeQuietly(target, temp);
    throw err;
  }
}

async function compareExisting(
  target: SafeWriteTarget,
  url: string,
  existing: StatResult,
  opts: SafeWriteOptions,
): Promise<UploadResult> {
  const want = opts.expected ?? (await opts.sourceChecksums());
  let reason = `${existing.bytes} B there, ${want.bytes} B to write`;
  if (existing.bytes === want.bytes) {
    const v = await target.verify(url, want, { signal: opts.signal, readbackFallback: true });
    if (v.ok) return { checksums: want, alreadyThere: true };
    reason = v.reason ?? 'content differs';
  }
  throw permanentError(
    'EXISTS_DIFFERENT',
    `${url} already exists with different content (${reason}); refusing to overwrite it. ` +
      'Find out who wrote it; delete it by hand if it is garbage, or ingest under another name.',
  );
}

/**
 * Best-effort delete of a temporary file, with its own short deadline (the caller's signal may be the
 * reason we are cleaning up). Checked twice: a just-aborted write may still be closing on the server.
 */
export async function removeQuietly(target: SafeWriteTarget, url: string): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await target.delete(url, AbortSignal.timeout(30_000));
      await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
      if (!(await target.stat(url, AbortSignal.timeout(30_000)))) return;
    } catch (err) {
      if (err instanceof StorageError && err.kind === 'permanent') return;
    }
  }
}
