import { execFile, spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { digestLookupTimeoutMs } from './defaults.js';
import { abortedError, permanentError, retryableError, StorageError, toStorageError } from './errors.js';
import { formatAdler32 } from '../shared/checksum-format.js';
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
import { parseStorageUrl, type StorageUrl } from './url.js';
import { verifyObject } from './verify.js';

const META_TIMEOUT_MS = 60_000;

export interface XrootdOptions {
  /** Directory of the xrdcp/xrdfs binaries (default: from PATH). */
  binDir?: string;
}

/**
 * root:// through the XRootD command line tools (xrdcp, xrdfs): no native client library in Node.
 * Paths are passed raw: XRootD does not percent-decode, and a `?` would start CGI (unsupported in names).
 */
export class XrootdAdapter implements FullStorageAdapter {
  readonly schemes = ['root'] as const;
  constructor(private readonly opts: XrootdOptions = {}) {}

  async stat(url: string, signal?: AbortSignal): Promise<StatResult | undefined> {
    const u = parseStorageUrl(url);
    const r = await this.xrdfs(u, ['stat', u.path], signal);
    if (r.notFound) return undefined;
    this.check(r, `stat ${url}`);
    const m = /^Size:\s*(\d+)/m.exec(r.stdout);
    if (!m) throw retryableError('BAD_ANSWER', `xrdfs stat ${url}: no size in the answer: ${r.stdout.slice(0, 200)}`);
    if (/IsDir/.test(r.stdout)) throw permanentError('NOT_A_FILE', `${url} is a directory`);
    return { bytes: Number(m[1]) };
  }

  async digest(url: string, opts: { md5?: boolean; signal?: AbortSignal } = {}): Promise<RemoteDigest | undefined> {
    const st = await this.stat(url, opts.signal);
    if (!st) return undefined;
    const found: RemoteDigest = { ...st };
    const adler = await this.queryChecksum(url, 'adler32', opts.signal);
    if (adler) found.adler32 = formatAdler32(adler);
    if (opts.md5) {
      const md5 = await this.queryChecksum(url, 'md5', opts.signal);
      if (md5 && /^[0-9a-f]{32}$/i.test(md5)) found.md5 = md5.toLowerCase();
    }
    return found;
  }

  /** `xrdfs query checksum`; the answer is `<algorithm> <hex>` and names the algorithm actually used. */
  private async queryChecksum(url: string, algo: string, signal?: AbortSignal): Promise<string | undefined> {
    const u = parseStorageUrl(url);
    const path = algo === 'adler32' ? u.path : `${u.path}?cks.type=${algo}`;
    const r = await this.xrdfs(u, ['query', 'checksum', path], signal, digestLookupTimeoutMs);
    if (r.code !== 0) return undefined;
    const m = /^(\S+)\s+([0-9a-fA-F]+)\s*$/m.exec(r.stdout);
    return m && m[1]!.toLowerCase() === algo ? m[2] : undefined;
  }

  async verify(url: string, expected: Checksums, opts: VerifyOptions = {}): Promise<VerifyResult> {
    const found = await this.digest(url, { md5: !!expected.md5, signal: opts.signal });
    return verifyObject(expected, found, () => this.read(url, opts.signal), opts);
  }

  async read(url: string, signal?: AbortSignal): Promise<NodeJS.ReadableStream> {
    // Fail early and clearly on a missing object, not from inside a consumer's stream.
    if (!(await this.stat(url, signal))) throw permanentError('NOT_FOUND', `${url} does not exist`);
    const child = spawn(this.bin('xrdcp'), ['--silent', '--nopbar', rootUrl(url), '-'], {
      signal,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => child.stdout.destroy(toStorageError(err, `xrdcp ${url}`)));
    child.on('close', (code) => {
      if (code !== 0) child.stdout.destroy(xrdError(code, stderr, `read ${url}`));
    });
    return child.stdout;
  }

  async delete(url: string, signal?: AbortSignal): Promise<boolean> {
    const u = parseStorageUrl(url);
    const r = await this.xrdfs(u, ['rm', u.path], signal);
    if (r.notFound) return false;
    this.check(r, `delete ${url}`);
    return true;
  }

  async upload(localPath: string, url: string, opts: UploadOptions = {}): Promise<UploadResult> {
    return this.uploadFrom(localFileSource(localPath, opts), url, opts);
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

  /**
   * Bytes go through us into `xrdcp -` (stdin) so they are checksummed in the same pass; the server's
   * checksum is compared afterwards by the safe-write flow. `--posc`: the server drops the file if we die.
   */
  private async write(source: UploadSource, url: string, opts: UploadOptions): Promise<Checksums> {
    const guard = new TransferGuard(`xrdcp to ${url}`, opts);
    const child = spawn(this.bin('xrdcp'), ['--silent', '--nopbar', '--posc', '-', rootUrl(url)], {
      signal: guard.signal,
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', resolve);
    });
    exited.catch(() => undefined);
    try {
      const input = Readable.from(await source.open(guard.signal));
      const sums = await pumpWithChecksums(input, child.stdin, guard, opts.md5, source.sent);
      const code = await exited;
      if (code !== 0) throw xrdError(code, stderr, `upload to ${url}`);
      guard.tracker.done();
      return sums;
    } catch (err) {
      if (!child.killed && child.exitCode === null) child.kill('SIGKILL');
      // xrdcp's own exit reason beats "write EPIPE" when it died first.
      if (child.exitCode !== null && child.exitCode !== 0 && !guard.failure) {
        throw xrdError(child.exitCode, stderr, `upload to ${url}`);
      }
      throw guard.error(err);
    } finally {
      guard.close();
    }
  }

  async rename(fromUrl: string, toUrl: string, signal?: AbortSignal): Promise<void> {
    const from = parseStorageUrl(fromUrl);
    const r = await this.xrdfs(from, ['mv', from.path, parseStorageUrl(toUrl).path], signal);
    this.check(r, `rename ${fromUrl} → ${toUrl}`);
  }

  // ---- plumbing ----

  private bin(name: string): string {
    return this.opts.binDir ? `${this.opts.binDir}/${name}` : name;
  }

  private xrdfs(u: StorageUrl, args: string[], signal?: AbortSignal, timeout = META_TIMEOUT_MS): Promise<XrdResult> {
    return new Promise((resolve, reject) => {
      execFile(
        this.bin('xrdfs'),
        [`root://${u.authority}`, ...args],
        { signal, timeout, maxBuffer: 4 * 1024 * 1024 },
        (err, stdout, stderr) => {
          // A non-zero exit puts the exit status (a number) in `code`; anything else is a spawn/abort/timeout.
          const rawCode: unknown = err ? (err as { code?: unknown }).code : 0;
          if (err && typeof rawCode !== 'number') {
            if (signal?.aborted) reject(abortedError(`xrdfs ${args[0]}`));
            else if (err.killed) reject(retryableError('TIMEOUT', `xrdfs ${args[0]} gave no answer in ${timeout} ms`));
            else reject(toStorageError(err, `xrdfs ${args[0]}`));
            return;
          }
          const code = rawCode as number;
          resolve({ code, stdout, stderr, notFound: isNotFound(code, stderr) });
        },
      );
    });
  }

  private check(r: XrdResult, what: string): void {
    if (r.code !== 0) throw xrdError(r.code, r.stderr, what);
  }
}

interface XrdResult {
  code: number;
  stdout: string;
  stderr: string;
  notFound: boolean;
}

/** The root URL the XRootD tools expect: root://host:port//abs/path. */
export function rootUrl(url: string): string {
  const u = parseStorageUrl(url);
  return `root://${u.authority}/${u.path}`;
}

function isNotFound(code: number | null, stderr: string): boolean {
  // 54 = kXR_NotFound (3011) as an exit status.
  return code === 54 || /\[3011\]|no such file or directory/i.test(stderr);
}

/** Classify an xrdcp/xrdfs failure from its exit status and message. */
export function xrdError(code: number | null, stderr: string, what: string): StorageError {
  const msg = stderr.replace(/\s+/g, ' ').trim().slice(0, 400) || `exit status ${code}`;
  if (isNotFound(code, stderr)) return permanentError('NOT_FOUND', `${what}: ${msg}`);
  if (/not authori[sz]ed|permission denied|\[3010\]/i.test(stderr)) {
    return permanentError('FORBIDDEN', `${what}: ${msg}. Check this account's permissions on the storage.`);
  }
  if (/no space|\[3009\]|ENOSPC/i.test(stderr)) {
    return permanentError('NO_SPACE', `${what}: ${msg}. The storage is full: free space or pick another RSE.`);
  }
  if (/file exists|\[3018\]/i.test(stderr)) return permanentError('EXISTS', `${what}: ${msg}`);
  if (/checksum/i.test(stderr) || code === 53) return permanentError('CHECKSUM_MISMATCH', `${what}: ${msg}`);
  // Everything else the tools report (sockets, redirects, timeouts, server errors) may pass.
  return retryableError(`XRD_${code ?? 'SIGNAL'}`, `${what}: ${msg}. Retrying later.`);
}
