import { didNamePattern } from '../rucio/dids.js';

/**
 * How a file name becomes a DID name. `keep` uses the name as is (Rucio refuses names with spaces,
 * `+`, `=`...); `sanitize` replaces every character Rucio refuses with `_` so raw files such as
 * MAGIC's `..._CrabNebula-W0.40+035.root` can be ingested without renaming them on disk — the original
 * name is then kept in the file's metadata (`original_name`).
 */
export const nameRules = ['keep', 'sanitize'] as const;
export type NameRule = (typeof nameRules)[number];

export function didNameFor(fileName: string, rule: NameRule): string {
  if (rule === 'keep') return fileName;
  const replaced = fileName.replace(/[^/A-Za-z0-9.\-_]/g, '_');
  // A name must start with a letter, digit or '/'.
  return /^[/A-Za-z0-9]/.test(replaced) ? replaced : `f${replaced}`;
}

export function isValidDidName(name: string): boolean {
  return didNamePattern.test(name);
}
