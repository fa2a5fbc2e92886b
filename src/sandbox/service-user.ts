import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

export interface ServiceUser {
  name: string;
  uid: number;
  gid: number;
}

/**
 * Servers that refuse to run as root (xrootd, postgres) run as their Debian system user when the
 * sandbox runs as root; as any other user they simply run as that user. Returns undefined then.
 */
export function serviceUser(name: string): ServiceUser | undefined {
  if (process.getuid?.() !== 0) return undefined;
  let entry: string;
  try {
    entry = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error(`running as root, the sandbox needs the system user '${name}' (created by its Debian package)`);
  }
  const [, , uid, gid] = entry.split(':');
  return { name, uid: Number(uid), gid: Number(gid) };
}

/** Give `user` ownership of these paths (not their contents: what the server creates is its own). */
export function chownPaths(user: ServiceUser | undefined, ...paths: string[]): void {
  if (!user) return;
  for (const p of paths) fs.chownSync(p, user.uid, user.gid);
}
