/**
 * The contract every storage protocol adapter (file, davs/https, root) fulfils.
 * URLs are full PFNs: `file:///data/x`, `/data/x`, `davs://host:port/path`, `https://...`, `root://host:port//path`.
 */

/** Checksums of one file. adler32 is always 8 lowercase hex digits; md5 is lowercase hex. */
export interface Checksums {
  bytes: number;
  adler32: string;
  md5?: string;
}

export type ProgressCallback = (bytesDone: number) => void;

export interface TransferOptions {
  /** Called as bytes move, often enough to heartbeat (at most a few times a second). */
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
  /** Compute md5 too (adler32 is always computed). */
  md5?: boolean;
  /** Fail with a retryable error when no byte moves for this long (default 60 s). */
  noProgressTimeoutMs?: number;
}

export interface UploadResult {
  /** Checksums of what was sent (computed in the same pass that sent it). */
  checksums: Checksums;
  /** True when the target already held identical content and nothing was sent. */
  alreadyThere: boolean;
}

export type VerifyMethod = 'digest' | 'readback' | 'stat';

export interface VerifyResult {
  ok: boolean;
  method: VerifyMethod;
  /** What the storage reported. */
  found?: Partial<Checksums>;
  /** Why verification failed, for humans. */
  reason?: string;
}

export interface VerifyOptions {
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
  /** When the server offers no digest: read the object back and checksum it (default true). */
  readbackFallback?: boolean;
  /**
   * Read back even when a digest is offered (extension). Digests can be stale: XRootD caches adler32 in an
   * xattr keyed by mtime, so bit-rot or a rewrite within the same second is not seen by a digest.
   */
  forceReadback?: boolean;
}

export interface StatResult {
  bytes: number;
}

export interface CopyResult {
  /** Why third-party copy modes were skipped before the one used (extension). */
  notes?: string[];
  mode: 'tpc-pull' | 'tpc-push' | 'streamed';
  checksums?: Checksums;
  alreadyThere: boolean;
}

export interface StorageAdapter {
  readonly schemes: readonly string[];
  /** Size of the object, or undefined when it does not exist. */
  stat(url: string, signal?: AbortSignal): Promise<StatResult | undefined>;
  /** Upload a local file to `url` safely (temporary name, verify, rename); see upload semantics in src/storage/README. */
  upload(localPath: string, url: string, opts?: UploadOptions): Promise<UploadResult>;
  /** Compare size and adler32 (md5 when `expected.md5` and offered) of the object at `url`. */
  verify(url: string, expected: Checksums, opts?: VerifyOptions): Promise<VerifyResult>;
  /** Read the object as a stream (for read-back verification and streamed copies). */
  read(url: string, signal?: AbortSignal): Promise<NodeJS.ReadableStream>;
  /** Delete; deleting what is already gone is success (returns false). */
  delete(url: string, signal?: AbortSignal): Promise<boolean>;
}

// ---- Extensions (compatible): streamed sources, digests without reading, copy options. ----

/** A re-openable byte source of known size: a local file, or another storage's object. */
export interface UploadSource {
  bytes: number;
  /** A fresh stream from the first byte (called again when a write is retried, e.g. after MKCOL). */
  open(signal?: AbortSignal): Promise<NodeJS.ReadableStream>;
  /** Checksums of the source, computed only when needed (to compare with an existing target). */
  checksums(): Promise<Checksums>;
  /** For messages. */
  describe: string;
  /**
   * What every stream of `open()` checksums to, when that is known for certain (bytes held in memory, already
   * checksummed): a write then counts the bytes it sends instead of hashing them again.
   */
  sent?: Checksums;
}

export interface UploadOptions extends TransferOptions {
  /** The source's checksums when already known: the sent bytes must match them, and they are compared with an existing target. */
  expected?: Checksums;
  /**
   * The caller's retry attempt (1-based). Temporary names derive from it, and the temporaries that
   * earlier attempts may have left (a killed worker cleans nothing up) are removed first.
   */
  attempt?: number;
  /** How the written temporary is verified before the rename (per-RSE policy; default: digest, else read back). */
  verify?: Pick<VerifyOptions, 'readbackFallback' | 'forceReadback'>;
}

export interface CopyOptions extends UploadOptions {
  /** Try HTTP third-party copy first when both ends speak https/davs (default true). */
  tpc?: boolean;
}

/** Size and the checksums a storage offers without reading the object back. */
export interface RemoteDigest {
  bytes: number;
  adler32?: string;
  md5?: string;
}

/** What every adapter of this library offers beyond the StorageAdapter contract. */
export interface FullStorageAdapter extends StorageAdapter {
  /** Like upload(), from any re-openable source (streamed copies between storages). */
  uploadFrom(source: UploadSource, url: string, opts?: UploadOptions): Promise<UploadResult>;
  /** Size and offered checksums (undefined when the object does not exist). */
  /** `bytes`: the size the caller expects, when known; it sizes how long a server may take to checksum. */
  digest(
    url: string,
    opts?: { md5?: boolean; signal?: AbortSignal; bytes?: number },
  ): Promise<RemoteDigest | undefined>;
  /** Rename within one storage, never overwriting an existing target. */
  rename(fromUrl: string, toUrl: string, signal?: AbortSignal): Promise<void>;
}
