import { createHash } from 'node:crypto';

/**
 * Rucio's deterministic `hash` lfn2pfn algorithm: `<scope path>/<md5[0:2]>/<md5[2:4]>/<name>`
 * where md5 is of `scope:name`, and scopes starting with `user` / `group` (as Rucio tests it: no dot
 * required) turn their dots into directories.
 */
export function hashLfnPath(scope: string, name: string): string {
  const h = createHash('md5').update(`${scope}:${name}`).digest('hex');
  const scopePath = scope.startsWith('user') || scope.startsWith('group') ? scope.replace(/\./g, '/') : scope;
  return `${scopePath}/${h.slice(0, 2)}/${h.slice(2, 4)}/${name}`;
}

/** Join a protocol's parts into a PFN the way Rucio does (scheme://host:port + prefix + path). */
export function buildPfn(p: { scheme: string; hostname: string; port: number; prefix: string }, path: string): string {
  const prefix = `/${p.prefix.replace(/^\/+|\/+$/g, '')}/`.replace(/^\/\/$/, '/');
  const sep = p.scheme === 'root' ? '/' : '';
  return `${p.scheme}://${p.hostname}:${p.port}${sep}${prefix}${path.replace(/^\/+/, '')}`;
}
