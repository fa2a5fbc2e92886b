import { randomBytes } from 'node:crypto';
import { permanentError } from './errors.js';

/**
 * Storage URLs are PFNs as Rucio builds them: the path is RAW (not percent-encoded), so a name may hold
 * spaces, `#`, `%`, `?`... literally. We therefore never hand them to WHATWG `URL`, which would treat
 * `#` as a fragment and `%xx` as escapes; we split them ourselves and encode only when talking HTTP.
 */
export interface StorageUrl {
  scheme: string;
  /** `host:port` (empty for file). */
  authority: string;
  /** Absolute raw path, starting with `/`. */
  path: string;
}

export function parseStorageUrl(url: string): StorageUrl {
  if (url.startsWith('/')) return { scheme: 'file', authority: '', path: url };
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/]*)(\/.*)?$/.exec(url);
  if (!m) throw permanentError('BAD_URL', `not a storage URL: ${url} (expected scheme://host:port/path or /path)`);
  const scheme = m[1]!.toLowerCase();
  const authority = m[2] ?? '';
  let path = m[3] ?? '/';
  if (scheme === 'file' && authority !== '' && authority !== 'localhost') {
    throw permanentError('BAD_URL', `file URL with a remote host: ${url}; use file:///path`);
  }
  // root://host:port//abs/path: the path proper starts after the double slash.
  if (scheme === 'root' && path.startsWith('//')) path = path.slice(1);
  return { scheme, authority, path };
}

export function formatStorageUrl(u: StorageUrl): string {
  if (u.scheme === 'file') return `file://${u.path}`;
  return `${u.scheme}://${u.authority}${u.scheme === 'root' ? '/' : ''}${u.path}`;
}

/** Percent-encode each segment of a raw path (keeps the slashes). */
export function encodePath(rawPath: string): string {
  return rawPath
    .split('/')
    .map((s) => encodeURIComponent(s))
    .join('/');
}

/** The https URL to request for a davs/https PFN, path percent-encoded. */
export function httpsUrl(url: string | StorageUrl): string {
  const u = typeof url === 'string' ? parseStorageUrl(url) : url;
  return `https://${u.authority}${encodePath(u.path)}`;
}

export function dirname(rawPath: string): string {
  const i = rawPath.lastIndexOf('/');
  return i <= 0 ? '/' : rawPath.slice(0, i);
}

export function basename(rawPath: string): string {
  return rawPath.slice(rawPath.lastIndexOf('/') + 1);
}

/** A hidden sibling to write to before the final rename: `.<name>.rucio-ingest-<random>.part`. */
/** A hidden sibling of `url` to write into; `tag` names it (e.g. after a retry attempt), random by default. */
export function tempSiblingUrl(url: string, tag?: string): string {
  const u = parseStorageUrl(url);
  const name = basename(u.path);
  const rand = tag ?? randomBytes(6).toString('hex');
  // Keep under the usual 255-byte name limit: long names get a nameless temp.
  const temp = Buffer.byteLength(name) > 200 ? `.rucio-ingest-${rand}.part` : `.${name}.rucio-ingest-${rand}.part`;
  const dir = dirname(u.path);
  return formatStorageUrl({ ...u, path: `${dir === '/' ? '' : dir}/${temp}` });
}

export function withPath(url: string, rawPath: string): string {
  return formatStorageUrl({ ...parseStorageUrl(url), path: rawPath });
}
