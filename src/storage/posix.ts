import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { READ_CHUNK_BYTES } from './checksum.js';
import { permanentError, toStorageError } from './errors.js';
import { pumpWithChecksums, TransferGuard } from './pump.js';
import { safeWrite } from './safe-write.js';
import { localFileSource } from './sources.js';
import type {
  Checksums,
  FullStorageAdapter,
  RemoteDigest,
  StatResult,
  UploadOptions,
  UploadResult,
  UploadSource,
  VerifyOptions,
  VerifyResult,
} from './types.js';
import { parseStorageUrl } from './url.js';
import { verifyObject } from './verify.js';

/** `file://` URLs and plain absolute paths. A file system offers no digest: verification reads back. */
export class PosixAdapter implements FullStorageAdapter {
  readonly schemes = ['file'] as const;

  async stat(url: string): Promise<StatResult | undefined> {
    const p = localPath(url);
    try {
      const st = await fsp.stat(p);
      if (!st.isFile()) throw permanentError('NOT_A_FILE', `${p} is not a regular file`);
      return { bytes: st.size };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw toStorageError(err, `stat ${p}`);
    }
  }

  async digest(url: string): Promise<RemoteDigest | undefined> {
    return this.stat(url);
  }

  async verify(url: string, expected: Checksums, opts: VerifyOptions = {}): Promise<VerifyResult> {
    return verifyObject(expected, await this.stat(url), () => this.read(url), opts);
  }

  async read(url: string): Promise<NodeJS.ReadableStream> {
    const p = localPath(url);
    // Open first so a missing file fails here, not later in the consumer.
    const handle = await fsp.open(p, 'r').catch((err: unknown) => {
      throw toStorageError(err, `open ${p}`);
    });
    return handle.createReadStream({ highWaterMark: READ_CHUNK_BYTES });
  }

  async delete(url: string): Promise<boolean> {
    try {
      await fsp.unlink(localPath(url));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw toStorageError(err, `delete ${localPath(url)}`);
    }
  }

  async upload(source: string, url: string, opts: UploadOptions = {}): Promise<UploadResult> {
    return this.uploadFrom(localFileSource(source, opts), url, opts);
  }

  uploadFrom(source: UploadSource, url: string, opts: UploadOptions = {}): Promise<UploadResult> {
    return safeWrite(this, url, (temp) => this.write(source, temp, opts), {
      signal: opts.signal,
      expected: opts.expected,
      sourceChecksums: () => source.checksums(),
      describe: source.describe,
      attempt: opts.attempt,
      verify: opts.verify,
      bytes: source.bytes,
    });
  }

  private async write(source: UploadSource, url: string, opts: UploadOptions): Promise<Checksums> {
    const p = localPath(url);
    const guard = new TransferGuard(`write ${p}`, opts);
    try {
      await fsp.mkdir(path.dirname(p), { recursive: true });
      const input = Readable.from(await source.open(guard.signal));
      // `wx`: a temp name is fresh; never write into someone else's file.
      const out = fs.createWriteStream(p, { flags: 'wx', highWaterMark: READ_CHUNK_BYTES });
      const sums = await pumpWithChecksums(input, out, guard, opts.md5, source.sent);
      // Durable before it gets its final name.
      const fh = await fsp.open(p, 'r');
      await fh.sync().finally(() => fh.close());
      guard.tracker.done();
      return sums;
    } catch (err) {
      throw guard.error(err);
    } finally {
      guard.close();
    }
  }

  async rename(fromUrl: string, toUrl: string): Promise<void> {
    const from = localPath(fromUrl);
    const to = localPath(toUrl);
    try {
      // link + unlink: atomic and fails with EEXIST instead of overwriting (rename would overwrite).
      await fsp.link(from, to);
      await fsp.unlink(from);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') throw permanentError('EXISTS_DIFFERENT', `${to} appeared meanwhile; not overwriting it.`);
      // File systems without hard links: a plain rename (the caller checked the target is free).
      if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'EXDEV') {
        await fsp.rename(from, to).catch((e: unknown) => {
          throw toStorageError(e, `rename ${from} → ${to}`);
        });
        return;
      }
      throw toStorageError(err, `rename ${from} → ${to}`);
    }
  }
}

/** The file system path of a file:// URL or plain path. */
export function localPath(url: string): string {
  const u = parseStorageUrl(url);
  if (u.scheme !== 'file') throw permanentError('BAD_URL', `${url} is not a file:// URL or path`);
  return u.path;
}
